// Package all is the explicit list of notification channels.
package all

import (
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/notify/discord"
	"github.com/dbackup/dbackup/internal/notify/email"
	"github.com/dbackup/dbackup/internal/notify/gotify"
	"github.com/dbackup/dbackup/internal/notify/ntfy"
	"github.com/dbackup/dbackup/internal/notify/ping"
	"github.com/dbackup/dbackup/internal/notify/slack"
	"github.com/dbackup/dbackup/internal/notify/teams"
	"github.com/dbackup/dbackup/internal/notify/telegram"
	"github.com/dbackup/dbackup/internal/notify/webhook"
	"github.com/dbackup/dbackup/internal/plugin"
)

// Registry returns every channel type dbackup knows.
func Registry() *plugin.Registry[notify.Notifier] {
	return plugin.NewRegistry("channel", webhook.Factory, discord.Factory, slack.Factory, teams.Factory,
		telegram.Factory, gotify.Factory, ntfy.Factory, email.Factory, ping.Factory)
}
