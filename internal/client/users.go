package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/basalt-lab/basalt/internal/api/rest"
)

// ListUsers returns every user (GET /users; admins only).
func (c *Client) ListUsers(ctx context.Context) (rest.ListJSON[rest.UserJSON], error) {
	var out rest.ListJSON[rest.UserJSON]
	err := c.do(ctx, request{method: "GET", path: "/users", out: &out})
	return out, err
}

// CreateUser adds a user (POST /users; admins only).
func (c *Client) CreateUser(ctx context.Context, in rest.UserInput) (rest.UserJSON, error) {
	var out rest.UserJSON
	err := c.do(ctx, request{method: "POST", path: "/users", body: in, out: &out})
	return out, err
}

// GetUser returns one user (GET /users/{username}).
func (c *Client) GetUser(ctx context.Context, username string) (rest.UserJSON, error) {
	var out rest.UserJSON
	err := c.do(ctx, request{method: "GET", path: "/users/" + seg(username), out: &out})
	return out, err
}

// UpdateUser changes the non-nil fields of in (PATCH /users/{username}).
func (c *Client) UpdateUser(ctx context.Context, username string, in rest.UserInput) (rest.UserJSON, error) {
	var out rest.UserJSON
	err := c.do(ctx, request{method: "PATCH", path: "/users/" + seg(username), body: in, out: &out})
	return out, err
}

// DeleteUser removes a user and their tokens (DELETE /users/{username}).
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	return c.do(ctx, request{method: "DELETE", path: "/users/" + seg(username)})
}

// ListGroups returns every group (GET /groups; admins only).
func (c *Client) ListGroups(ctx context.Context) (rest.ListJSON[rest.GroupJSON], error) {
	var out rest.ListJSON[rest.GroupJSON]
	err := c.do(ctx, request{method: "GET", path: "/groups", out: &out})
	return out, err
}

// CreateGroup adds a group (POST /groups).
func (c *Client) CreateGroup(ctx context.Context, name string) (rest.GroupJSON, error) {
	var out rest.GroupJSON
	err := c.do(ctx, request{method: "POST", path: "/groups", body: rest.GroupInput{Name: name}, out: &out})
	return out, err
}

// GetGroup returns a group with its members (GET /groups/{name}).
func (c *Client) GetGroup(ctx context.Context, name string) (rest.GroupJSON, error) {
	var out rest.GroupJSON
	err := c.do(ctx, request{method: "GET", path: "/groups/" + seg(name), out: &out})
	return out, err
}

// DeleteGroup removes a group (DELETE /groups/{name}).
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/groups/" + seg(name)})
}

// AddGroupMember adds a user to a group (PUT /groups/{name}/members/{username}).
func (c *Client) AddGroupMember(ctx context.Context, group, username string) (rest.GroupJSON, error) {
	var out rest.GroupJSON
	err := c.do(ctx, request{method: "PUT", path: "/groups/" + seg(group) + "/members/" + seg(username), out: &out})
	return out, err
}

// RemoveGroupMember removes a user from a group (DELETE
// /groups/{name}/members/{username}).
func (c *Client) RemoveGroupMember(ctx context.Context, group, username string) (rest.GroupJSON, error) {
	var out rest.GroupJSON
	err := c.do(ctx, request{method: "DELETE", path: "/groups/" + seg(group) + "/members/" + seg(username), out: &out})
	return out, err
}

// ListTokens returns the caller's API tokens, or owner's for an admin (GET
// /tokens). Secrets are never listed.
func (c *Client) ListTokens(ctx context.Context, owner string) (rest.ListJSON[rest.TokenJSON], error) {
	var q url.Values
	if owner != "" {
		q = url.Values{"owner": {owner}}
	}
	var out rest.ListJSON[rest.TokenJSON]
	err := c.do(ctx, request{method: "GET", path: "/tokens", query: q, out: &out})
	return out, err
}

// CreateToken makes an API token (POST /tokens); the secret is in the
// answer's Secret field, shown only this once.
func (c *Client) CreateToken(ctx context.Context, in rest.TokenInput) (rest.TokenJSON, error) {
	var out rest.TokenJSON
	err := c.do(ctx, request{method: "POST", path: "/tokens", body: in, out: &out})
	return out, err
}

// DeleteToken revokes a token (DELETE /tokens/{id}).
func (c *Client) DeleteToken(ctx context.Context, id int64) error {
	return c.do(ctx, request{method: "DELETE", path: "/tokens/" + strconv.FormatInt(id, 10)})
}
