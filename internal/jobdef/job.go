package jobdef

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Job is a parsed, validated LAVA job definition. A Job returned by Parse
// satisfies every rule of the package documentation: Name is 1–200
// characters, Timeouts.Job is positive and bounds every action and
// connection timeout, every action carries a known role in multinode jobs,
// and either all actions or none have a namespace. DeviceType is set
// exactly when Protocols.Multinode is nil, but in a multinode sub-job
// (Member not nil), which has either DeviceType or Member().Connection.
type Job struct {
	// Pos is the position of the document's first key.
	Pos Pos `json:"pos"`
	// Name is job_name (LAVA's TestJob.description).
	Name string `json:"job_name"`
	// DeviceType is the requested device type or alias; empty for a
	// multinode submission, and in a multinode sub-job its role's.
	DeviceType string `json:"device_type,omitempty"`
	// Device pins the job to one device hostname (optional; ignored in a
	// multinode submission, and in a multinode sub-job its role's).
	Device string `json:"device,omitempty"`
	// Worker restricts the job to devices on that worker (optional; as
	// Device).
	Worker string `json:"worker,omitempty"`
	// Priority is 0–100; high/medium/low are 100/50/0; default 50.
	Priority int `json:"priority"`
	// Visibility is public, personal or group; for group, VisibilityGroups
	// lists the groups (non-empty) whose members may see the job.
	Visibility       lab.Visibility `json:"visibility"`
	VisibilityGroups []string       `json:"visibility_groups,omitempty"`
	// Tags are device tags the job needs (not allowed in a multinode
	// submission; in a multinode sub-job its role's).
	Tags []string `json:"tags,omitempty"`
	// Timeouts is the timeouts block.
	Timeouts Timeouts `json:"timeouts"`
	// Context holds device-template variables; keys come from LAVA's
	// allow-list (plus WithExtraContext), values are scalars or lists
	// (as Tags).
	Context map[string]any `json:"context,omitempty"`
	// Metadata is free metadata with scalar values stringified (booleans
	// as "true"/"false", numbers as written).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Secrets are exported to the run and masked in logs.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Environment is exported on the DUT (as Tags).
	Environment map[string]any `json:"environment,omitempty"`
	// Notify is the notify block, nil when absent.
	Notify *Notify `json:"notify,omitempty"`
	// Protocols holds the protocols block.
	Protocols Protocols `json:"protocols"`
	// RebootToFastboot is reboot_to_fastboot.
	RebootToFastboot bool `json:"reboot_to_fastboot,omitempty"`
	// Actions is the pipeline, in order; never empty.
	Actions []Action `json:"actions"`
	// Warnings are what Parse accepted but is most likely a mistake (see
	// Warning), sorted by position; nil when there is none, and always
	// nil with Strict.
	Warnings []Warning `json:"warnings,omitempty"`

	root *node
}

// Member returns what a multinode sub-job (made by Split, parsed with
// ServerGenerated) says of its place in its group, or nil for any other
// job.
func (j *Job) Member() *Member {
	if j == nil || j.Protocols.Multinode == nil {
		return nil
	}
	return j.Protocols.Multinode.Member
}

// QueueTimeout is the longest time the job may wait in the queue
// (timeouts.queue), or 0 when the job sets no queue timeout.
func (j *Job) QueueTimeout() time.Duration {
	if j.Timeouts.Queue == nil {
		return 0
	}
	return j.Timeouts.Queue.Duration
}

// PosOf returns the source position of the value at path (in the form used
// by Error.Path, e.g. "$.actions[0].deploy.images.kernel.url"), so that later
// checks (such as the dispatcher's, against the device) can point at the
// source too. Values reached through an alias report the anchor's position.
func (j *Job) PosOf(path string) (Pos, bool) {
	if j == nil || j.root == nil {
		return Pos{}, false
	}
	steps, ok := splitPath(path)
	if !ok {
		return Pos{}, false
	}
	n := j.root
	for _, s := range steps {
		switch {
		case s.isKey && n.kind == mapNode:
			var next *node
			for _, e := range n.entries {
				if e.key == s.key {
					next = e.val
					break
				}
			}
			if next == nil {
				return Pos{}, false
			}
			n = next
		case !s.isKey && n.kind == seqNode && s.index < len(n.items):
			n = n.items[s.index]
		default:
			return Pos{}, false
		}
	}
	return n.pos, true
}

// Option adjusts Parse.
type Option func(*config)

type config struct {
	extraContext    []string
	strict          bool
	serverGenerated bool
}

// Strict makes Parse refuse what it otherwise accepts with a warning (see
// Warning): mapping keys written twice, keys it would ignore, auto_login
// without prompts. It is LAVA's strict validation (scheduler.jobs.validate
// with strict=True) for those cases.
func Strict() Option {
	return func(c *config) { c.strict = true }
}

// ServerGenerated allows what only the server writes: a multinode sub-job,
// as Split makes it (protocols.lava-multinode with target_group, role,
// group_size and sub_id instead of roles; its role's device_type or
// connection, host_role and context at the top level; every action with
// role: <its role>). Without it such a job is refused, at the keys only
// the server sets: users submit the whole multinode job.
func ServerGenerated() Option {
	return func(c *config) { c.serverGenerated = true }
}

// WithExtraContext allows more context keys than LAVA's built-in list (the
// server's EXTRA_CONTEXT_VARIABLES setting).
func WithExtraContext(keys ...string) Option {
	return func(c *config) { c.extraContext = append(c.extraContext, keys...) }
}

// Parse reads and validates a LAVA job definition. On failure the error is
// an *Errors listing every problem found, sorted by position; it wraps
// lab.ErrInvalid. What LAVA accepts but is most likely a mistake is
// accepted, with Job.Warnings saying so (an error with Strict). Parse
// never panics and bounds its time and memory (see MaxSourceSize,
// MaxDepth, MaxAliasExpansion).
func Parse(src []byte, opts ...Option) (*Job, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	errs := &errList{}
	root := readTree(src, errs)
	if root == nil {
		return nil, errs.result()
	}
	d := &decoder{errs: errs, extraContext: map[string]bool{}, strict: cfg.strict, serverGenerated: cfg.serverGenerated}
	for _, k := range cfg.extraContext {
		d.extraContext[k] = true
	}
	d.duplicateKeys(root)
	job := d.job(root)
	if err := errs.result(); err != nil {
		return nil, err
	}
	job.root = root
	job.Warnings = errs.warningList()
	return job, nil
}

var topLevelKeys = []string{
	"job_name", "device_type", "device", "worker", "timeouts", "visibility", "priority",
	"tags", "context", "metadata", "secrets", "environment", "protocols", "notify",
	"reboot_to_fastboot", "actions",
}

// actionCtx carries what every action needs from the top level.
type actionCtx struct {
	multinode bool
	roles     map[string]bool // nil unless multinode
	roleList  string
	subJob    bool   // a multinode sub-job: every action's role is member
	member    string // the sub-job's role ("" when it is invalid)
	refs      *[]timeoutRef
}

func (d *decoder) job(root *node) *Job {
	m := d.asMap(root, "$")
	if m == nil {
		return nil
	}
	job := &Job{Pos: root.pos, Priority: lab.PriorityMedium}
	var refs []timeoutRef

	if v, ok := d.require(m, "job_name"); ok {
		job.Name, _ = d.nonEmpty(v, m.sub("job_name"), 200)
	}

	multinode := false
	if v, ok := m.get("protocols"); ok {
		job.Protocols, multinode = d.protocols(v, m.sub("protocols"))
	}
	d.multinode = multinode
	member := job.Member()
	switch {
	case member != nil:
		d.memberTop(m, job)
	case multinode:
		for _, k := range []string{"device_type", "environment", "context", "tags"} {
			if _, ok := m.get(k); ok {
				d.errorf(m.keyPos(k), m.sub(k), "%s is not allowed with protocols.lava-multinode; set it per role", k)
			}
		}
		for _, k := range []string{"device", "worker"} {
			if _, ok := m.get(k); ok {
				d.lenient(m.keyPos(k), m.sub(k),
					fmt.Sprintf("%s is ignored with protocols.lava-multinode, as LAVA's split drops it; set it per role", k),
					fmt.Sprintf("%s is not allowed with protocols.lava-multinode; set it per role", k))
			}
		}
	}

	if v, ok := m.get("device_type"); ok {
		if !multinode || member != nil {
			job.DeviceType, _ = d.nonEmpty(v, m.sub("device_type"), 200)
		}
	} else if !multinode {
		d.errorf(m.n.pos, "$", "missing required key %q (required unless protocols.lava-multinode is used)", "device_type")
	}
	if !multinode {
		if v, ok := m.get("device"); ok {
			job.Device, _ = d.nonEmpty(v, m.sub("device"), 200)
		}
		if v, ok := m.get("worker"); ok {
			job.Worker, _ = d.nonEmpty(v, m.sub("worker"), 200)
		}
	}

	jobTimeoutOK := false
	if v, ok := d.require(m, "timeouts"); ok {
		job.Timeouts, jobTimeoutOK = d.timeouts(v, m.sub("timeouts"), &refs)
	}
	if v, ok := d.require(m, "visibility"); ok {
		job.Visibility, job.VisibilityGroups = d.visibility(v, m.sub("visibility"))
	}
	if v, ok := m.get("priority"); ok {
		if p, ok := d.priority(v, m.sub("priority")); ok {
			job.Priority = p
		}
	}
	if v, ok := m.get("tags"); ok && !multinode {
		job.Tags, _ = d.nonEmptyStrings(v, m.sub("tags"))
	}
	if v, ok := m.get("context"); ok && (!multinode || member != nil) {
		job.Context = d.context(v, m.sub("context"))
	}
	if v, ok := m.get("metadata"); ok {
		job.Metadata = d.stringMap(v, m.sub("metadata"), false)
	}
	if v, ok := m.get("secrets"); ok {
		job.Secrets = d.stringMap(v, m.sub("secrets"), true)
	}
	if v, ok := m.get("environment"); ok && !multinode {
		job.Environment = d.anyMap(v, m.sub("environment"))
	}
	if v, ok := m.get("notify"); ok {
		job.Notify = d.notify(v, m.sub("notify"))
	}
	if v, ok := m.get("reboot_to_fastboot"); ok {
		job.RebootToFastboot, _ = d.boolean(v, m.sub("reboot_to_fastboot"))
	}
	for _, k := range []string{"connection", "host_role"} {
		if _, ok := m.get(k); ok && member == nil {
			d.errorf(m.keyPos(k), m.sub(k), "%s is only set in server-generated multinode sub-jobs, not in submissions", k)
		}
	}

	ctx := actionCtx{multinode: multinode, refs: &refs}
	if member != nil {
		ctx.subJob, ctx.member = true, member.Role
	} else if mn := job.Protocols.Multinode; mn != nil {
		ctx.roles = map[string]bool{}
		var names []string
		for name := range mn.Roles {
			ctx.roles[name] = true
			names = append(names, name)
		}
		ctx.roleList = joinSorted(names)
	}
	if v, ok := d.require(m, "actions"); ok {
		job.Actions = d.actions(v, m.sub("actions"), ctx)
		if mn := job.Protocols.Multinode; mn != nil && member == nil && v.kind == seqNode && len(job.Actions) == len(v.items) {
			d.rolesWithoutActions(mn, job.Actions)
		}
	}
	d.unknownKeys(m, topLevelKeys, "connection", "host_role")

	if jobTimeoutOK {
		d.checkTimeouts(job.Timeouts.Job, refs)
	}
	return job
}

// nonEmptyStrings reads a (possibly empty) list of non-empty strings.
func (d *decoder) nonEmptyStrings(n *node, path string) ([]string, bool) {
	list, ok := d.strList(n, path)
	if !ok {
		return nil, false
	}
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			d.errorf(n.items[i].pos, IndexPath(path, i), "must not be empty")
			ok = false
		}
	}
	return list, ok
}

// visibility reads "public", "personal" or {group: [names]}.
func (d *decoder) visibility(n *node, path string) (lab.Visibility, []string) {
	if n.kind == mapNode {
		m := &mapping{n: n, path: path}
		var groups []string
		if v, ok := d.require(m, "group"); ok {
			groups, _ = d.nonEmptyList(v, m.sub("group"))
		}
		d.unknownKeys(m, []string{"group"})
		return lab.VisibilityGroup, groups
	}
	s, ok := d.str(n, path)
	if !ok {
		return lab.VisibilityPublic, nil
	}
	switch s {
	case "public":
		return lab.VisibilityPublic, nil
	case "personal":
		return lab.VisibilityPersonal, nil
	case "group":
		d.errorf(n.pos, path, "group visibility needs the groups: write visibility: {group: [name, ...]}")
	default:
		d.errorf(n.pos, path, "unknown visibility %q (expected public, personal or {group: [names]})", truncate(s, 60))
	}
	return lab.VisibilityPublic, nil
}

// priority reads high/medium/low or an integer 0–100.
func (d *decoder) priority(n *node, path string) (int, bool) {
	var text string
	switch {
	case n.kind == scalarNode && n.styp == intScalar:
		v, ok := d.integer(n, path)
		if !ok {
			return 0, false
		}
		text = strconv.FormatInt(v, 10)
	case n.kind == scalarNode && n.styp == strScalar:
		text = n.text
	default:
		d.expected(n, path, "high, medium, low or an integer from 0 to 100")
		return 0, false
	}
	p, err := lab.ParsePriority(text)
	if err != nil {
		d.errorf(n.pos, path, "priority %q must be high, medium, low or an integer from 0 to 100", truncate(text, 40))
		return 0, false
	}
	return p, true
}

// contextKeys is LAVA's CONTEXT_VARIABLES allow-list.
var contextKeys = []string{
	"arch", "boot_console", "boot_root", "cpu", "extra_options", "guestfs_driveid",
	"guestfs_interface", "guestfs_size", "machine", "memory", "model", "monitor", "netdevice",
	"no_kvm", "no_network", "serial", "vga", "booti_dtb_addr", "booti_kernel_addr",
	"booti_ramdisk_addr", "bootm_dtb_addr", "bootm_kernel_addr", "bootm_ramdisk_addr",
	"bootz_dtb_addr", "bootz_kernel_addr", "bootz_ramdisk_addr", "deploy_character_delay",
	"boot_character_delay", "boot_retry", "bootloader_prompt", "console_device",
	"custom_kernel_args", "extra_kernel_args", "extra_nfsroot_args", "failure_retry",
	"kernel_loglevel", "kernel_start_message", "lava_test_results_dir", "menu_interrupt_prompt",
	"mustang_menu_list", "test_character_delay", "tftp_mac_address", "uboot_extra_error_message",
	"uboot_needs_interrupt", "uboot_altbank",
}

var contextKeySet = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range contextKeys {
		m[k] = true
	}
	return m
}()

// context reads a context block: allow-listed keys, scalar or list values.
func (d *decoder) context(n *node, path string) map[string]any {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	out := map[string]any{}
	for _, e := range n.entries {
		p := KeyPath(path, e.key)
		if !contextKeySet[e.key] && !d.extraContext[e.key] {
			d.errorf(e.keyPos, p, "context variable %q is not allowed (see LAVA's CONTEXT_VARIABLES)", truncate(e.key, 60))
			continue
		}
		ok := e.val.kind == scalarNode
		if e.val.kind == seqNode {
			ok = true
			for i, it := range e.val.items {
				if it.kind != scalarNode {
					d.expected(it, IndexPath(p, i), "a scalar")
				}
			}
		}
		if !ok {
			d.expected(e.val, p, "a string, a number, a boolean or a list")
			continue
		}
		out[e.key] = toAny(e.val)
	}
	return out
}
