package config

import (
	"time"

	"github.com/cutover/cutover/internal/strategy"
)

// Strategies.
const (
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "blue-green"
	StrategyCanary    = "canary"
)

// Stages a check runs at. A rolling update has one verify stage, after the
// rollout, which counts as StageProd.
const (
	StageStaged = "staged" // blue/green Verify Staged: the new color before the switch
	StageProd   = "prod"   // blue/green Verify Prod, and a rolling update's verify stage
	StageBoth   = "both"   // the default
)

// Approval modes.
const (
	ApprovalNone   = "none"
	ApprovalManual = "manual"
)

// SMTP connection security.
const (
	TLSStartTLS = "starttls" // the default; port 587
	TLSImplicit = "tls"      // port 465
	TLSNone     = "none"     // port 25; refuses a username
)

// The allowed values of the enumerated fields; the schema test holds the
// JSON Schema to them.
var (
	strategies   = []string{StrategyRolling, StrategyBlueGreen, StrategyCanary}
	stages       = []string{StageStaged, StageProd, StageBoth}
	idlePolicies = []string{strategy.IdleKeep, strategy.IdleScaleDown, strategy.IdleUpdate}
	approvals    = []string{ApprovalNone, ApprovalManual}
	tlsModes     = []string{TLSStartTLS, TLSImplicit, TLSNone}
)

// Config is the content of cutover.yaml, exactly as written: unset fields
// are nil or empty (see the package documentation). The json tags are the
// file's keys.
type Config struct {
	App       string `json:"app,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Strategy  string `json:"strategy,omitempty"` // StrategyRolling, StrategyBlueGreen or StrategyCanary
	// Files are paths, directories or globs, resolved against the config
	// file's directory; "-" is standard input.
	Files []string `json:"files,omitempty"`
	// Vars are variable values; VarList gives them as K=V.
	Vars       map[string]string `json:"vars,omitempty"`
	VarFiles   []string          `json:"varFiles,omitempty"` // resolved like Files
	SecretVars []string          `json:"secretVars,omitempty"`
	StrictVars *bool             `json:"strictVars,omitempty"`

	Timeout         *time.Duration `json:"timeout,omitempty"`
	RollbackTimeout *time.Duration `json:"rollbackTimeout,omitempty"`
	NoRollback      *bool          `json:"noRollback,omitempty"`
	// Strict refuses releases with zero-downtime hazards (package hazard).
	Strict         *bool `json:"strict,omitempty"`
	ForceConflicts *bool `json:"forceConflicts,omitempty"`
	// TakeOverFrom are the field managers whose fields a conflicting
	// apply takes without forceConflicts (nil: apply.DefaultTakeOver; an
	// empty list: none).
	TakeOverFrom []string `json:"takeOverFrom,omitempty"`

	EndpointGuard EndpointGuard `json:"endpointGuard,omitempty"`
	BlueGreen     BlueGreen     `json:"blueGreen,omitempty"`
	Canary        Canary        `json:"canary,omitempty"`
	Checks        []Check       `json:"checks,omitempty"`
	Approval      Approval      `json:"approval,omitempty"`

	// File is the path the config was loaded from.
	File string `json:"-"`
}

// EndpointGuard configures the endpoint drift guard (package drift).
type EndpointGuard struct {
	Enabled *bool          `json:"enabled,omitempty"`
	Grace   *time.Duration `json:"grace,omitempty"`
}

// BlueGreen configures the blue/green strategy (template mode).
type BlueGreen struct {
	Service        string         `json:"service,omitempty"`
	SelectorKey    string         `json:"selectorKey,omitempty"` // default "role"
	RoleVar        string         `json:"roleVar,omitempty"`     // default "TARGET_ROLE"
	Colors         []string       `json:"colors,omitempty"`      // two; default blue, green
	IdlePolicy     string         `json:"idlePolicy,omitempty"`  // keep (default), scale-down, update
	ScaleDownDelay *time.Duration `json:"scaleDownDelay,omitempty"`
	Managed        *bool          `json:"managed,omitempty"` // managed mode (see cutover deploy --help)
}

// Check is one verification: exactly one of HTTP, Command and Job, with the
// policy that repeats it (see Policy).
type Check struct {
	Name  string `json:"name,omitempty"`  // shown in output instead of the generated name
	Stage string `json:"stage,omitempty"` // StageStaged, StageProd or StageBoth (default)

	HTTP     *HTTPCheck     `json:"http,omitempty"`
	Command  *CommandCheck  `json:"command,omitempty"`
	Job      *JobCheck      `json:"job,omitempty"`
	Analysis *AnalysisCheck `json:"analysis,omitempty"`

	Attempts       *int           `json:"attempts,omitempty"`
	Interval       *time.Duration `json:"interval,omitempty"`
	Timeout        *time.Duration `json:"timeout,omitempty"`
	SuccessesInRow *int           `json:"successesInRow,omitempty"`
}

// HTTPCheck requests URL, or Service through the API server's service
// proxy (exactly one of the two), and judges the response. "{color}" in
// URL, Service.Name and Service.Path stands for the color under test.
type HTTPCheck struct {
	URL                string            `json:"url,omitempty"`
	Service            *ServiceTarget    `json:"service,omitempty"`
	Status             []int             `json:"status,omitempty"` // accepted codes; default any 2xx
	Contains           string            `json:"contains,omitempty"`
	Matches            string            `json:"matches,omitempty"` // a Go regular expression
	InsecureSkipVerify *bool             `json:"insecureSkipVerify,omitempty"`
	Headers            map[string]string `json:"headers,omitempty"`
}

// ServiceTarget is a Service in the release's namespace.
type ServiceTarget struct {
	Name string `json:"name,omitempty"`
	Port string `json:"port,omitempty"` // a port name or number; may be left out for a one-port Service
	Path string `json:"path,omitempty"` // may carry a query
}

// CommandCheck runs a shell command (sh -c); exit status 0 passes.
type CommandCheck struct {
	Run string            `json:"run,omitempty"`
	Env map[string]string `json:"env,omitempty"` // added to cutover's environment
}

// JobCheck runs a Kubernetes Job; its success passes.
type JobCheck struct {
	File string `json:"file,omitempty"` // the Job manifest, resolved like Files
}

// AnalysisCheck measures metrics (package analysis) as one check: it
// passes when every metric is successful; a failed or inconclusive one
// fails it, so an analysis never promotes a release it could not judge.
type AnalysisCheck struct {
	Metrics []Metric `json:"metrics,omitempty"`
}

// Metric is one measured quantity: exactly one provider, how often, and
// the CEL conditions over `result` that judge each value. A job metric
// without conditions succeeds when its Job does (result.succeeded).
type Metric struct {
	Name                  string            `json:"name,omitempty"`
	Prometheus            *PrometheusMetric `json:"prometheus,omitempty"`
	Web                   *WebMetric        `json:"web,omitempty"`
	Command               *CommandMetric    `json:"command,omitempty"`
	Job                   *JobCheck         `json:"job,omitempty"` // a Job per measurement; result.succeeded
	Interval              *time.Duration    `json:"interval,omitempty"`
	Count                 *int              `json:"count,omitempty"` // default 1
	InitialDelay          *time.Duration    `json:"initialDelay,omitempty"`
	SuccessCondition      string            `json:"successCondition,omitempty"`
	FailureCondition      string            `json:"failureCondition,omitempty"`
	FailureLimit          *int              `json:"failureLimit,omitempty"`
	InconclusiveLimit     *int              `json:"inconclusiveLimit,omitempty"`
	ConsecutiveErrorLimit *int              `json:"consecutiveErrorLimit,omitempty"`
}

// PrometheusMetric runs a PromQL query.
type PrometheusMetric struct {
	Address string `json:"address,omitempty"`
	Query   string `json:"query,omitempty"`
}

// WebMetric gets a URL and picks a value out of its JSON.
type WebMetric struct {
	URL      string            `json:"url,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	JSONPath string            `json:"jsonPath,omitempty"`
}

// CommandMetric runs a shell command; its output is the result.
type CommandMetric struct {
	Run string `json:"run,omitempty"`
}

// Approval configures the wait for a person between Verify Staged and the
// switch.
type Approval struct {
	Mode    string         `json:"mode,omitempty"`    // ApprovalNone (default) or ApprovalManual
	Timeout *time.Duration `json:"timeout,omitempty"` // then the release is rejected
	Notify  Notify         `json:"notify,omitempty"`
}

// Notify says whom to tell that an approval is waiting.
type Notify struct {
	Webhook *Webhook `json:"webhook,omitempty"`
	SMTP    *SMTP    `json:"smtp,omitempty"`
}

// Webhook is POSTed to. Exactly one of URL and URLEnv is set.
type Webhook struct {
	URL    string `json:"url,omitempty"`
	URLEnv string `json:"urlEnv,omitempty"` // name of the environment variable holding the URL
	// Headers are sent as written; HeadersEnv maps a header to the
	// environment variable that holds its value (for tokens).
	Headers    map[string]string `json:"headers,omitempty"`
	HeadersEnv map[string]string `json:"headersEnv,omitempty"`
}

// SMTP sends mail. Username and PasswordEnv go together.
type SMTP struct {
	Host        string   `json:"host,omitempty"`
	Port        *int     `json:"port,omitempty"` // default by TLS: 587, 465 or 25
	TLS         string   `json:"tls,omitempty"`  // TLSStartTLS (default), TLSImplicit or TLSNone
	Username    string   `json:"username,omitempty"`
	PasswordEnv string   `json:"passwordEnv,omitempty"` // name of the environment variable holding the password
	From        string   `json:"from,omitempty"`
	To          []string `json:"to,omitempty"`
}
