// Package notify tells people that a cutover run waits for their approval,
// as the article's Jenkins pipeline mailed "Ready to go?" before the switch.
//
// A [Message] describes the wait: the app, the colors and images on both
// sides, the deadline and the commands that approve or reject. A [Notifier]
// delivers it: [Webhook] (Slack-compatible JSON) and [SMTP] (mail). [All]
// and [Multi] send to several at once and never wait past the context.
//
// Configuration is checked by Validate at startup, before any cluster write.
// Secrets stay out of names, errors and logs: a webhook shows only
// scheme://host (Slack webhook URLs carry their token in the path), and the
// SMTP password is read from the environment variable that PasswordEnv
// names, at send time.
package notify
