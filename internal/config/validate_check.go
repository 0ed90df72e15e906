package config

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// check validates one check; sample is a color to try {color} with.
func (v *validator) check(path string, c *Check, sample string) {
	v.oneOf(field(path, "stage"), c.Stage, stages)
	v.kinds(path, c)
	if c.HTTP != nil {
		v.http(field(path, "http"), c.HTTP, sample)
	}
	if c.Command != nil {
		v.command(field(path, "command"), c.Command)
	}
	if c.Job != nil {
		v.required(field(path, "job.file"), c.Job.File)
	}
	if c.Analysis != nil {
		v.analysis(field(path, "analysis"), c.Analysis)
	}
	v.policy(path, c)
}

// kinds checks that exactly one of http, command, job and analysis is set.
func (v *validator) kinds(path string, c *Check) {
	if n := count(c.HTTP != nil, c.Command != nil, c.Job != nil, c.Analysis != nil); n != 1 {
		v.failf(path, "want exactly one of http, command, job and analysis, got %d", n)
	}
}

func count(set ...bool) int {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	return n
}

func (v *validator) policy(path string, c *Check) {
	v.atLeast(field(path, "attempts"), c.Attempts, 1)
	v.atLeast(field(path, "successesInRow"), c.SuccessesInRow, 1)
	v.positive(field(path, "interval"), c.Interval)
	v.positive(field(path, "timeout"), c.Timeout)
	p := c.Policy()
	if c.SuccessesInRow != nil && p.SuccessesInRow > p.Attempts {
		v.failf(field(path, "successesInRow"), "%d passes in a row cannot happen in %d attempts", p.SuccessesInRow, p.Attempts)
	}
}

func (v *validator) http(path string, h *HTTPCheck, sample string) {
	switch {
	case (h.URL == "") == (h.Service == nil):
		v.failf(path, "want exactly one of url and service")
	case h.URL != "":
		v.httpURL(field(path, "url"), strings.ReplaceAll(h.URL, "{color}", sample))
	default:
		v.service(field(path, "service"), h.Service, sample)
		if h.InsecureSkipVerify != nil {
			v.failf(field(path, "insecureSkipVerify"), "applies to url only: the service proxy uses the api server's tls settings")
		}
	}
	for i, code := range h.Status {
		if code < 100 || code > 599 {
			v.failf(index(field(path, "status"), i), "want an http status code (100 to 599), got %d", code)
		}
	}
	if h.Matches != "" {
		if _, err := regexp.Compile(h.Matches); err != nil {
			v.failf(field(path, "matches"), "invalid regular expression: %w", err)
		}
	}
	v.headers(field(path, "headers"), h.Headers)
}

// httpURL checks an absolute http or https URL.
func (v *validator) httpURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil {
		v.failf(path, "invalid url: %w", err)
		return
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.failf(path, "want an http:// or https:// url, got %q", s)
	}
}

func (v *validator) service(path string, s *ServiceTarget, sample string) {
	if v.required(field(path, "name"), s.Name) {
		v.k8sName(field(path, "name"), strings.ReplaceAll(s.Name, "{color}", sample), validation.IsDNS1035Label)
	}
	if s.Port != "" {
		v.port(field(path, "port"), s.Port)
	}
	if _, err := url.Parse("/" + strings.ReplaceAll(s.Path, "{color}", sample)); err != nil {
		v.failf(field(path, "path"), "invalid path: %w", err)
	}
}

// port checks a port number or name.
func (v *validator) port(path, port string) {
	errs := validation.IsValidPortName(port)
	if n, err := strconv.Atoi(port); err == nil {
		errs = validation.IsValidPortNum(n)
	}
	if len(errs) > 0 {
		v.failf(path, "invalid port %q: %s", port, strings.Join(errs, "; "))
	}
}

// headers checks header names (RFC 9110 tokens).
func (v *validator) headers(path string, h map[string]string) {
	for _, name := range sortedKeys(h) {
		if !isToken(name) {
			v.failf(field(path, name), "invalid header name %q", name)
		}
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func (v *validator) command(path string, c *CommandCheck) {
	if strings.TrimSpace(c.Run) == "" {
		v.failf(field(path, "run"), "required")
	}
	v.varMap(field(path, "env"), c.Env)
}
