package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// excerptLen is how much of a rejected response's body an error quotes.
const excerptLen = 200

// Webhook POSTs a Message as JSON. Its "text" field is what a Slack
// incoming webhook (and Mattermost, Rocket.Chat, Google Chat) shows;
// the other fields carry the same facts for machines:
//
//	{"text":"...","subject":"...","app":"web","namespace":"prod",
//	 "strategy":"blue-green","from":"blue","to":"green",
//	 "from_images":["web:1.4"],"to_images":["web:1.5"],
//	 "run_id":"42","run_url":"https://ci/job/42/",
//	 "waiting_since":"2025-05-01T10:00:00Z","deadline":"2025-05-01T10:30:00Z",
//	 "approve_command":"cutover approve web -n prod",
//	 "reject_command":"cutover reject web -n prod"}
//
// The URL is a secret (a Slack webhook's token is its path): Name and
// errors show only its scheme and host. Header values are secret too.
type Webhook struct {
	URL     string
	Headers map[string]string // e.g. Authorization; "Host" sets the request's host
	// Client defaults to one that does not follow redirects, so that a
	// redirect fails rather than turning the POST into a GET.
	Client  *http.Client
	Timeout time.Duration // default DefaultTimeout
}

type payload struct {
	Text           string   `json:"text"`
	Subject        string   `json:"subject"`
	App            string   `json:"app"`
	Namespace      string   `json:"namespace,omitempty"`
	Strategy       string   `json:"strategy,omitempty"`
	From           string   `json:"from,omitempty"`
	To             string   `json:"to"`
	FromImages     []string `json:"from_images,omitempty"`
	ToImages       []string `json:"to_images,omitempty"`
	RunID          string   `json:"run_id,omitempty"`
	RunURL         string   `json:"run_url,omitempty"`
	WaitingSince   string   `json:"waiting_since,omitempty"`
	Deadline       string   `json:"deadline,omitempty"`
	ApproveCommand string   `json:"approve_command"`
	RejectCommand  string   `json:"reject_command"`
	Canary         string   `json:"canary,omitempty"`
}

func newPayload(m Message) payload {
	return payload{
		Text:           slackEscape(m.Text()),
		Subject:        m.Subject(),
		App:            m.App,
		Namespace:      m.Namespace,
		Strategy:       m.Strategy,
		From:           m.FromColor,
		To:             m.ToColor,
		FromImages:     m.FromImages,
		ToImages:       m.ToImages,
		RunID:          m.RunID,
		RunURL:         m.RunURL,
		WaitingSince:   rfc3339(m.WaitingSince),
		Deadline:       rfc3339(m.Deadline),
		ApproveCommand: m.approveCommand(),
		RejectCommand:  m.rejectCommand(),
		Canary:         m.Canary,
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// slackEscape escapes the three characters Slack's text treats as markup,
// so that no field can become a mention such as <!channel> or a link.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// Name is "webhook scheme://host", without the URL's path, query or
// userinfo.
func (w Webhook) Name() string {
	return "webhook " + publicURL(w.URL)
}

// publicURL keeps scheme://host of a URL.
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Validate checks the configuration without sending anything.
func (w Webhook) Validate() error {
	if w.URL == "" {
		return errors.New("webhook: URL is required")
	}
	u, err := url.Parse(w.URL)
	if err != nil { // err quotes the URL: leave it out
		return errors.New("webhook: URL is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("webhook: URL %s: scheme must be http or https", publicURL(w.URL))
	}
	if u.Hostname() == "" {
		return errors.New("webhook: URL has no host")
	}
	for k, v := range w.Headers {
		if err := checkHeader(k, v); err != nil {
			return fmt.Errorf("webhook: Headers[%q]: %w", k, err)
		}
	}
	return nil
}

// checkHeader rejects what net/http would refuse, without quoting the
// value, which may be a token.
func checkHeader(name, value string) error {
	if name == "" || strings.IndexFunc(name, notTokenChar) >= 0 {
		return errors.New("not a valid header name")
	}
	if hasControl(value) {
		return errors.New("value contains a line break or control character")
	}
	return nil
}

// notTokenChar reports runes not allowed in an HTTP header name (RFC 9110 token).
func notTokenChar(r rune) bool {
	if r > unicode.MaxASCII || r <= ' ' || r == 0x7f {
		return true
	}
	return strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// Notify POSTs m. A status other than 2xx is an error quoting the status
// and the start of the body.
func (w Webhook) Notify(ctx context.Context, m Message) error {
	if err := w.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(w.Timeout))
	defer cancel()
	req, err := w.request(ctx, m)
	if err != nil {
		return fmt.Errorf("%s: %w", w.Name(), err)
	}
	resp, err := w.client().Do(req)
	if err != nil {
		return fmt.Errorf("%s: post: %w", w.Name(), withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s", w.Name(), w.rejected(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return nil
}

func (w Webhook) request(ctx context.Context, m Message) (*http.Request, error) {
	body, err := json.Marshal(newPayload(m))
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("build request: invalid URL") // err quotes the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cutover-notify")
	for k, v := range w.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

var noRedirectClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (w Webhook) client() *http.Client {
	if w.Client != nil {
		return w.Client
	}
	return noRedirectClient
}

// rejected describes a non-2xx response: "status 404 Not Found: no_team".
// The status text is Go's, not the server's.
func (w Webhook) rejected(resp *http.Response) string {
	status := strings.TrimSpace(fmt.Sprintf("status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4*excerptLen))
	if excerpt := w.redact(excerpt(raw)); excerpt != "" {
		return status + ": " + excerpt
	}
	return status
}

// excerpt is the start of a body on one line, at most excerptLen runes.
func excerpt(raw []byte) string {
	s := strings.Join(strings.FieldsFunc(string(raw), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if r := []rune(s); len(r) > excerptLen {
		s = string(r[:excerptLen]) + "…"
	}
	return s
}

// redact masks the URL's secret parts and the header values in s, should
// the server echo them.
func (w Webhook) redact(s string) string {
	secrets := []string{w.URL}
	if u, err := url.Parse(w.URL); err == nil {
		secrets = append(secrets, u.EscapedPath(), u.Path, u.RawQuery, u.User.String())
	}
	for _, v := range w.Headers {
		secrets = append(secrets, v)
	}
	for _, sec := range secrets {
		if len(sec) >= 4 && sec != "/" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// withoutURL drops the *url.Error wrapper of a client error, whose message
// quotes the whole URL.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}
