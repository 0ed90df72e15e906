// Package config reads cutover.yaml, the file that holds what would
// otherwise be a long command line:
//
//	cutover deploy -c cutover.yaml --var TOMCAT_VERSION=8.0
//
// # Loading
//
// Load decodes strictly: an unknown or repeated key, a value of the wrong
// type, or a bad value is an error naming the file, the line and the field
// path, for example
//
//	cutover.yaml: line 7: unknown key "blueGreen.colours" (did you mean "colors"?)
//	cutover.yaml: line 21: checks[1].http.matches: invalid regular expression: ...
//
// All problems are reported at once (errors.Join of *Error values).
// Durations are Go duration strings ("90s", "5m") and must be positive.
// Relative paths (files, varFiles, a job check's file) are resolved against
// the directory of the config file, so the file works from any working
// directory. Secrets are never in the file: SMTP takes the name of an
// environment variable that holds the password (passwordEnv), a webhook may
// take its URL and header values from environment variables (urlEnv,
// headersEnv). Load does not read those variables, nor the files the config
// names: it checks the file only.
//
// # Set or not set
//
// A Config holds exactly what the file says, without defaults, so that the
// CLI can tell "not in the file" from a zero value:
//
//   - an optional bool, number or duration is a pointer: nil means not set;
//   - a string, list or map is a value: empty means not set (no field
//     accepts an empty string as a meaningful value);
//   - the sections blueGreen, approval and approval.notify are values, so
//     they can be read without nil checks; a check's kind (http, command,
//     job), an http check's service, and the webhook and smtp notifiers are
//     pointers, since their presence is what matters.
//
// Defaults live where they live today: in the flags' defaults and in the
// engine (verify.Policy.WithDefaults, strategy.NewBlueGreen).
// The JSON Schema in schema/cutover.schema.json documents them for editors.
//
// # Merging with flags: the command line wins
//
// Register the flags with their defaults as today, load the file, then let
// each value of the file replace the flag's value unless the flag was given
// on the command line (pflag's FlagSet.Changed):
//
//	fs := cmd.Flags()
//	config.UseString(&o.strategy, cfg.Strategy, fs.Changed("strategy"))
//	config.Use(&o.timeout, cfg.Timeout, fs.Changed("timeout"))
//	config.UseList(&o.input.files, cfg.Files, fs.Changed("filename"))
//	config.UseList(&o.bg.colors, cfg.BlueGreen.Colors, fs.Changed("colors"))
//
// Scalars and the lists files and colors are replaced as a whole. The other
// lists add up, the command line's entries last so that they win:
//
//	o.input.varFiles = append(slices.Clone(cfg.VarFiles), o.input.varFiles...)
//	o.input.vars = append(cfg.VarList(), o.input.vars...)
//	o.input.secretVars = append(slices.Clone(cfg.SecretVars), o.input.secretVars...)
//
// With manifest.Vars (the environment, then files, then K=V values, later
// winning within a layer) this gives, lowest first: the environment, the
// file's varFiles, --var-file, the file's vars, --var.
//
// The checks of the file run as they say (Config.ChecksFor); a check given
// with --verify-url is added to them and runs at both verify stages.
// Approval's mode and timeout have flags too (--approval,
// --approval-timeout), which win; its mail settings are the file's only.
// Load checks each field; whatever needs the
// merged result (blue-green needs a service) is checked after merging, by
// the CLI's existing validation.
package config
