package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/basalt-lab/basalt/internal/api/wire"
)

// ListUsers returns every user (GET /users; admins only).
func (c *Client) ListUsers(ctx context.Context) (wire.List[wire.User], error) {
	var out wire.List[wire.User]
	err := c.do(ctx, request{method: "GET", path: "/users", out: &out})
	return out, err
}

// CreateUser adds a user (POST /users; admins only).
func (c *Client) CreateUser(ctx context.Context, in wire.UserInput) (wire.User, error) {
	var out wire.User
	err := c.do(ctx, request{method: "POST", path: "/users", body: in, out: &out})
	return out, err
}

// GetUser returns one user (GET /users/{username}).
func (c *Client) GetUser(ctx context.Context, username string) (wire.User, error) {
	var out wire.User
	err := c.do(ctx, request{method: "GET", path: "/users/" + seg(username), out: &out})
	return out, err
}

// UpdateUser changes the non-nil fields of in (PATCH /users/{username}).
func (c *Client) UpdateUser(ctx context.Context, username string, in wire.UserInput) (wire.User, error) {
	var out wire.User
	err := c.do(ctx, request{method: "PATCH", path: "/users/" + seg(username), body: in, out: &out})
	return out, err
}

// DeleteUser removes a user and their tokens (DELETE /users/{username}).
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	return c.do(ctx, request{method: "DELETE", path: "/users/" + seg(username)})
}

// ListGroups returns every group (GET /groups; admins only).
func (c *Client) ListGroups(ctx context.Context) (wire.List[wire.Group], error) {
	var out wire.List[wire.Group]
	err := c.do(ctx, request{method: "GET", path: "/groups", out: &out})
	return out, err
}

// CreateGroup adds a group (POST /groups).
func (c *Client) CreateGroup(ctx context.Context, name string) (wire.Group, error) {
	var out wire.Group
	err := c.do(ctx, request{method: "POST", path: "/groups", body: wire.GroupInput{Name: name}, out: &out})
	return out, err
}

// GetGroup returns a group with its members (GET /groups/{name}).
func (c *Client) GetGroup(ctx context.Context, name string) (wire.Group, error) {
	var out wire.Group
	err := c.do(ctx, request{method: "GET", path: "/groups/" + seg(name), out: &out})
	return out, err
}

// DeleteGroup removes a group (DELETE /groups/{name}).
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/groups/" + seg(name)})
}

// AddGroupMember adds a user to a group (PUT /groups/{name}/members/{username}).
func (c *Client) AddGroupMember(ctx context.Context, group, username string) (wire.Group, error) {
	var out wire.Group
	err := c.do(ctx, request{method: "PUT", path: "/groups/" + seg(group) + "/members/" + seg(username), out: &out})
	return out, err
}

// RemoveGroupMember removes a user from a group (DELETE
// /groups/{name}/members/{username}).
func (c *Client) RemoveGroupMember(ctx context.Context, group, username string) (wire.Group, error) {
	var out wire.Group
	err := c.do(ctx, request{method: "DELETE", path: "/groups/" + seg(group) + "/members/" + seg(username), out: &out})
	return out, err
}

// ListTokens returns the caller's API tokens, or owner's for an admin (GET
// /tokens). Secrets are never listed.
func (c *Client) ListTokens(ctx context.Context, owner string) (wire.List[wire.Token], error) {
	var q url.Values
	if owner != "" {
		q = url.Values{"owner": {owner}}
	}
	var out wire.List[wire.Token]
	err := c.do(ctx, request{method: "GET", path: "/tokens", query: q, out: &out})
	return out, err
}

// CreateToken makes an API token (POST /tokens); the secret is in the
// answer's Secret field, shown only this once.
func (c *Client) CreateToken(ctx context.Context, in wire.TokenInput) (wire.Token, error) {
	var out wire.Token
	err := c.do(ctx, request{method: "POST", path: "/tokens", body: in, out: &out})
	return out, err
}

// DeleteToken revokes a token (DELETE /tokens/{id}).
func (c *Client) DeleteToken(ctx context.Context, id int64) error {
	return c.do(ctx, request{method: "DELETE", path: "/tokens/" + strconv.FormatInt(id, 10)})
}
