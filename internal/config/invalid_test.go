package config

import (
	"errors"
	"strings"
	"testing"
)

// A valid check, for cases about other fields.
const okCheck = "checks:\n- http: {url: http://a/}\n"

func TestLoadInvalidValues(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		// types
		{"not a mapping", "- a\n", `line 1: want a mapping, got a list`},
		{"string for list", "files: a.yaml\n", `line 1: files: want a list, got "a.yaml"`},
		{"list for string", "app: [a]\n", `line 1: app: want a string, got a list`},
		{"bool as yes", "strictVars: yes\n", `line 1: strictVars: want true or false, got "yes"`},
		{"int as string", okCheck + "  attempts: three\n", `line 3: checks[0].attempts: want an integer, got "three"`},
		{"int as float", okCheck + "  attempts: 3.5\n", `line 3: checks[0].attempts: want an integer, got "3.5"`},
		{"duration without unit", "timeout: 300\n", `line 1: timeout: want a duration such as 90s or 5m: time: missing unit in duration "300"`},
		{"duration words", "rollbackTimeout: 5 minutes\n", `line 1: rollbackTimeout: want a duration such as 90s or 5m: time: unknown unit`},
		{"repeated key", "app: a\nnamespace: b\napp: c\n", `line 3: app: repeated key (first on line 1)`},
		{"non-string key", "vars:\n  [a]: b\n", `line 2: vars: want a string key, got a list`},
		{"two documents", "app: a\n---\napp: b\n", `cutover.yaml: want one YAML document, found more`},
		{"yaml syntax", "app: a\n  b: c\n", `cutover.yaml: yaml: line 2: mapping values are not allowed in this context`},

		// canary
		{"weight over 100", "canary:\n  steps:\n  - setWeight: 120\n", `line 3: canary.steps[0].setWeight: want a weight from 0 to 100, got 120`},
		{"negative weight", "canary:\n  steps:\n  - setWeight: -5\n", `line 3: canary.steps[0].setWeight: want a weight from 0 to 100, got -5`},
		{"two kinds in a step", "canary:\n  steps:\n  - {setWeight: 10, pause: {}}\n", `line 3: canary.steps[0]: want exactly one of setWeight, pause and analysis, got 2`},
		{"empty step", "canary:\n  steps:\n  - {}\n", `line 3: canary.steps[0]: want exactly one of setWeight, pause and analysis, got 0`},
		{"analysis of no check", okCheck + "canary:\n  steps:\n  - analysis: errors\n", `line 5: canary.steps[0].analysis: no check is named "errors" (checks[].name)`},
		{"pause of zero", "canary:\n  steps:\n  - pause: {duration: 0s}\n", `line 3: canary.steps[0].pause.duration: want a duration above zero, got 0s`},
		{"background analysis of no check", okCheck + "canary:\n  analysis: errors\n", `line 4: canary.analysis: no check is named "errors" (checks[].name)`},
		{"background analysis not an analysis", "checks:\n- {name: up, http: {url: http://a/}}\ncanary:\n  analysis: up\n", `line 4: canary.analysis: check "up" is not an analysis: only metrics run in the background`},
		{"background analysis with a count", "checks:\n- name: errors\n  analysis:\n    metrics:\n    - {name: e, command: {run: ./e}, count: 3}\ncanary:\n  analysis: errors\n",
			`line 7: canary.analysis: check "errors": metric e sets count: a background analysis measures until promotion`},
		{"negative proxy sync delay", "canary:\n  proxySyncDelay: -1s\n", `line 2: canary.proxySyncDelay: want a duration of 0 or more, got -1s`},
		{"negative abort delay", "canary:\n  abortScaleDownDelay: -1s\n", `line 2: canary.abortScaleDownDelay: want a duration of 0 or more, got -1s`},
		{"dynamic stable scale through a gateway", "canary:\n  httpRoute: web\n  dynamicStableScale: true\n", `line 3: canary.dynamicStableScale: only without httpRoute`},
		{"stable service alone", "canary:\n  httpRoute: web\n  stableService: web-primary\n", `canary.canaryService: required with stableService`},
		{"explicit services without a route", "canary:\n  stableService: a\n  canaryService: b\n", `line 2: canary.stableService: needs httpRoute`},
		{"the same service twice", "canary:\n  httpRoute: web\n  stableService: a\n  canaryService: a\n", `line 4: canary.canaryService: want a Service other than stableService, got "a" for both`},
		{"unknown step key", "canary:\n  steps:\n  - setweight: 10\n", `line 3: unknown key "canary.steps[0].setweight" (did you mean "setWeight"?)`},

		// top level
		{"app", "app: Web_App\n", `line 1: app: invalid name "Web_App"`},
		{"namespace", "namespace: -prod\n", `line 1: namespace: invalid name "-prod"`},
		{"strategy", "strategy: linear\n", `line 1: strategy: want one of rolling, blue-green, canary, got "linear"`},
		{"empty file path", "files:\n- a.yaml\n- ''\n", `line 3: files[1]: required`},
		{"empty var file", "varFiles: ['']\n", `line 1: varFiles[0]: required`},
		{"var name", "vars:\n  OK: 1\n  1BAD: 2\n", `line 3: vars.1BAD: invalid variable name "1BAD"`},
		{"secret var name", "secretVars: [A-B]\n", `line 1: secretVars[0]: invalid variable name "A-B"`},
		{"zero timeout", "timeout: 0s\n", `line 1: timeout: want a duration above zero, got 0s`},
		{"negative rollback timeout", "rollbackTimeout: -1m\n", `line 1: rollbackTimeout: want a duration above zero, got -1m0s`},

		// blueGreen
		{"service", "blueGreen:\n  service: 1web\n", `line 2: blueGreen.service: invalid name "1web"`},
		{"selector key", "blueGreen:\n  selectorKey: a b\n", `line 2: blueGreen.selectorKey: invalid name "a b"`},
		{"role var", "blueGreen:\n  roleVar: ROLE-VAR\n", `line 2: blueGreen.roleVar: invalid variable name "ROLE-VAR"`},
		{"one color", "blueGreen:\n  colors: [blue]\n", `line 2: blueGreen.colors: want two different colors, such as [blue, green], got ["blue"]`},
		{"three colors", "blueGreen:\n  colors: [a, b, c]\n", `line 2: blueGreen.colors: want two different colors`},
		{"same colors", "blueGreen:\n  colors: [blue, blue]\n", `line 2: blueGreen.colors: want two different colors`},
		{"color not a label", "blueGreen:\n  colors:\n  - blue\n  - Green\n", `line 4: blueGreen.colors[1]: invalid name "Green"`},
		{"idle policy", "blueGreen:\n  idlePolicy: delete\n", `line 2: blueGreen.idlePolicy: want one of keep, scale-down, update, got "delete"`},
		{"scale-down delay", "blueGreen:\n  scaleDownDelay: 0s\n", `line 2: blueGreen.scaleDownDelay: want a duration above zero`},

		// checks
		{"no kind", "checks:\n- stage: prod\n", `line 2: checks[0]: want exactly one of http, command, job and analysis, got 0`},
		{"two kinds", "checks:\n- http: {url: http://a/}\n  command: {run: x}\n", `line 2: checks[0]: want exactly one of http, command, job and analysis, got 2`},
		{"stage", okCheck + "  stage: canary\n", `line 3: checks[0].stage: want one of staged, prod, both, got "canary"`},
		{"zero attempts", okCheck + "  attempts: 0\n", `line 3: checks[0].attempts: want at least 1, got 0`},
		{"zero successes", okCheck + "  successesInRow: 0\n", `line 3: checks[0].successesInRow: want at least 1, got 0`},
		{"successes above attempts", okCheck + "  attempts: 2\n  successesInRow: 3\n", `line 4: checks[0].successesInRow: 3 passes in a row cannot happen in 2 attempts`},
		{"successes above default attempts", okCheck + "  successesInRow: 32\n", `checks[0].successesInRow: 32 passes in a row cannot happen in 31 attempts`},
		{"zero interval", okCheck + "  interval: 0s\n", `line 3: checks[0].interval: want a duration above zero`},
		{"zero check timeout", okCheck + "  timeout: 0ms\n", `line 3: checks[0].timeout: want a duration above zero`},
		{"url and service", "checks:\n- http:\n    url: http://a/\n    service: {name: a}\n", `line 2: checks[0].http: want exactly one of url and service`},
		// analysis checks
		{"no metrics", "checks:\n- analysis: {metrics: []}\n", `line 2: checks[0].analysis.metrics: want at least one metric`},
		{"job metric without a file", "checks:\n- analysis:\n    metrics:\n    - name: m\n      job: {}\n", `checks[0].analysis.metrics[0].job.file: required`},
		{"metric without a provider", "checks:\n- analysis:\n    metrics:\n    - name: m\n      successCondition: result < 1.0\n",
			`line 4: checks[0].analysis.metrics[0]: want exactly one of prometheus, web, command and job, got 0`},
		{"metric without a condition", "checks:\n- analysis:\n    metrics:\n    - name: m\n      command: {run: x}\n",
			`line 4: checks[0].analysis.metrics[0]: want a successCondition or a failureCondition`},
		{"a CEL syntax error, with its position", "checks:\n- analysis:\n    metrics:\n    - name: m\n      command: {run: x}\n      successCondition: result <\n",
			`line 6: checks[0].analysis.metrics[0].successCondition: ERROR: <input>:1:9: Syntax error`},
		{"a condition naming what is not there", "checks:\n- analysis:\n    metrics:\n    - name: m\n      command: {run: x}\n      failureCondition: errors > 1\n",
			`line 6: checks[0].analysis.metrics[0].failureCondition: ERROR: <input>:1:1: undeclared reference to 'errors'`},
		{"a query naming an unknown argument", "checks:\n- analysis:\n    metrics:\n    - name: m\n      prometheus:\n        address: http://p:9090\n        query: 'up{svc=\"{{.Canary}}\"}'\n      successCondition: result[0] == 1.0\n",
			`line 5: checks[0].analysis.metrics[0].prometheus: query: template: query:1:10: executing "query" at <.Canary>: can't evaluate field Canary`},
		{"zero count", "checks:\n- analysis:\n    metrics:\n    - name: m\n      command: {run: x}\n      successCondition: result == 1.0\n      count: 0\n",
			`line 7: checks[0].analysis.metrics[0].count: want at least 1, got 0`},
		{"two metrics of one name", "checks:\n- analysis:\n    metrics:\n    - {name: m, command: {run: x}, successCondition: 'true'}\n    - {name: m, command: {run: y}, successCondition: 'true'}\n",
			`line 5: checks[0].analysis.metrics[1].name: "m" names two metrics`},
		{"neither url nor service", "checks:\n- http: {status: [200]}\n", `line 2: checks[0].http: want exactly one of url and service`},
		{"url scheme", "checks:\n- http: {url: ftp://a/}\n", `line 2: checks[0].http.url: want an http:// or https:// url, got "ftp://a/"`},
		{"url without host", "checks:\n- http: {url: 'http:///x'}\n", `checks[0].http.url: want an http:// or https:// url`},
		{"url parse", "checks:\n- http: {url: 'http://a b/'}\n", `line 2: checks[0].http.url: invalid url: parse`},
		{"status", "checks:\n- http:\n    url: http://a/\n    status: [200, 99]\n", `line 4: checks[0].http.status[1]: want an http status code (100 to 599), got 99`},
		{"regex", "checks:\n- http:\n    url: http://a/\n    matches: 'Tomcat/(8'\n", "line 4: checks[0].http.matches: invalid regular expression: error parsing regexp: missing closing ): `Tomcat/(8`"},
		{"header name", "checks:\n- http:\n    url: http://a/\n    headers: {'X Token': a}\n", `line 4: checks[0].http.headers.X Token: invalid header name "X Token"`},
		{"service without name", "checks:\n- http:\n    service: {port: 80}\n", `line 3: checks[0].http.service.name: required`},
		{"service name", "checks:\n- http:\n    service: {name: Web}\n", `line 3: checks[0].http.service.name: invalid name "Web"`},
		{"service name with color", "checks:\n- http:\n    service: {name: 'web_{color}'}\n", `checks[0].http.service.name: invalid name "web_blue"`},
		{"service port number", "checks:\n- http:\n    service: {name: web, port: 70000}\n", `line 3: checks[0].http.service.port: invalid port "70000"`},
		{"service port name", "checks:\n- http:\n    service: {name: web, port: Http_Port}\n", `line 3: checks[0].http.service.port: invalid port "Http_Port"`},
		{"service insecure", "checks:\n- http:\n    service: {name: web}\n    insecureSkipVerify: true\n", `line 4: checks[0].http.insecureSkipVerify: applies to url only`},
		{"command run", "checks:\n- command: {run: ' '}\n", `line 2: checks[0].command.run: required`},
		{"command env", "checks:\n- command:\n    run: x\n    env: {A-B: c}\n", `line 4: checks[0].command.env.A-B: invalid variable name "A-B"`},
		{"job file", "checks:\n- job: {}\n", `line 2: checks[0].job.file: required`},

		// approval
		{"approval mode", "approval:\n  mode: auto\n", `line 2: approval.mode: want one of none, manual, got "auto"`},
		{"approval timeout", "approval:\n  mode: manual\n  timeout: 0s\n", `line 3: approval.timeout: want a duration above zero`},
		{"timeout without manual", "approval:\n  timeout: 1h\n", `line 2: approval.timeout: applies to mode manual only`},
		{"notify without manual", "approval:\n  mode: none\n  notify:\n    webhook: {url: http://a/}\n", `line 3: approval.notify: applies to mode manual only`},
		{"webhook url and env", "approval:\n  mode: manual\n  notify:\n    webhook: {url: http://a/, urlEnv: A}\n", `line 4: approval.notify.webhook: want exactly one of url and urlEnv`},
		{"webhook neither", "approval:\n  mode: manual\n  notify:\n    webhook: {headers: {A: b}}\n", `line 4: approval.notify.webhook: want exactly one of url and urlEnv`},
		{"webhook url", "approval:\n  mode: manual\n  notify:\n    webhook: {url: hooks.example.com}\n", `line 4: approval.notify.webhook.url: want an http:// or https:// url`},
		{"webhook url env", "approval:\n  mode: manual\n  notify:\n    webhook: {urlEnv: $HOOK}\n", `line 4: approval.notify.webhook.urlEnv: invalid variable name "$HOOK"`},
		{"webhook header env name", "approval:\n  mode: manual\n  notify:\n    webhook:\n      urlEnv: H\n      headersEnv: {Authorization: my-token}\n",
			`line 6: approval.notify.webhook.headersEnv.Authorization: invalid variable name "my-token"`},
		{"webhook header twice", "approval:\n  mode: manual\n  notify:\n    webhook:\n      urlEnv: H\n      headers: {Authorization: x}\n      headersEnv: {Authorization: T}\n",
			`line 7: approval.notify.webhook.headersEnv.Authorization: header also in headers`},
		{"smtp host", smtp("port: 25"), `line 4: approval.notify.smtp.host: required`},
		{"smtp port", smtp("host: h\n      port: 0"), `line 6: approval.notify.smtp.port: want a port number (1 to 65535), got 0`},
		{"smtp tls", smtp("host: h\n      tls: ssl"), `line 6: approval.notify.smtp.tls: want one of starttls, tls, none, got "ssl"`},
		{"smtp password without user", smtp("host: h\n      passwordEnv: P"), `line 4: approval.notify.smtp.username: required with passwordEnv`},
		{"smtp user without password", smtp("host: h\n      username: u"), `line 4: approval.notify.smtp.passwordEnv: required with username`},
		{"smtp password env", smtp("host: h\n      username: u\n      passwordEnv: p-w"), `line 7: approval.notify.smtp.passwordEnv: invalid variable name "p-w"`},
		{"smtp login in clear", smtp("host: h\n      tls: none\n      username: u\n      passwordEnv: P"), `line 6: approval.notify.smtp.tls: none would send the password in clear`},
		{"smtp from", "approval:\n  mode: manual\n  notify:\n    smtp: {host: h, to: [a@b.c]}\n", `line 4: approval.notify.smtp.from: required`},
		{"smtp bad from", "approval:\n  mode: manual\n  notify:\n    smtp: {host: h, from: nobody, to: [a@b.c]}\n", `line 4: approval.notify.smtp.from: invalid address "nobody": mail: missing '@' or angle-addr`},
		{"smtp no to", "approval:\n  mode: manual\n  notify:\n    smtp: {host: h, from: a@b.c}\n", `line 4: approval.notify.smtp.to: want at least one address`},
		{"smtp bad to", "approval:\n  mode: manual\n  notify:\n    smtp:\n      host: h\n      from: a@b.c\n      to: [ok@b.c, 'x@']\n", `line 7: approval.notify.smtp.to[1]: invalid address "x@"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "cutover.yaml: ") {
				t.Errorf("error %q does not name the file", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("want an *Error, got %#v", err)
			}
		})
	}
}

// smtp returns an approval section whose smtp has the given lines (indented
// by six spaces) plus a valid from and to, unless the lines set them.
func smtp(lines string) string {
	return "approval:\n  mode: manual\n  notify:\n    smtp:\n      " + lines + "\n      from: a@b.c\n      to: [x@b.c]\n"
}
