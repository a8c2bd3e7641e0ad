package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/dbackup/dbackup/internal/app"
	"github.com/dbackup/dbackup/internal/store"
)

func notifyCommands() []command {
	return []command{
		{name: "channel system-events", args: "channel [restore,destination]", summary: "route system events to a channel (none: stop)", run: channelSystemEvents},
		{name: "notification log", args: "[-job J] [-execution ID] [-limit N]", summary: "delivery attempts, newest first", run: notificationLog},
	}
}

func channelSystemEvents(ctx context.Context, e *env, args []string) error {
	return e.withApp(ctx, "channel system-events", args, -1, nil, func(a *app.App, fs *flag.FlagSet) error {
		if fs.NArg() < 1 || fs.NArg() > 2 {
			return fmt.Errorf("%w: expected a channel and optionally a list of events", errUsage)
		}
		var events []string
		if fs.NArg() == 2 && fs.Arg(1) != "" {
			events = strings.Split(fs.Arg(1), ",")
		}
		if err := a.SetSystemEvents(ctx, fs.Arg(0), events); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "channel %s receives system events: %v\n", fs.Arg(0), events)
		return nil
	})
}

func notificationLog(ctx context.Context, e *env, args []string) error {
	var f store.NotificationFilter
	setup := func(fs *flag.FlagSet) {
		fs.StringVar(&f.JobName, "job", "", "only this job (name)")
		fs.StringVar(&f.ExecutionID, "execution", "", "only this execution")
		fs.IntVar(&f.Limit, "limit", 50, "at most this many")
	}
	return e.withApp(ctx, "notification log", args, 0, setup, func(a *app.App, _ *flag.FlagSet) error {
		list, err := a.Store.ListNotificationLog(ctx, f)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, l := range list {
			rows = append(rows, []string{l.Time.Local().Format("2006-01-02 15:04:05"), l.ChannelName, l.Event, l.Outcome, l.JobName, fmt.Sprint(l.Attempt), l.Status, l.Error})
		}
		table(e.stdout, "TIME\tCHANNEL\tEVENT\tOUTCOME\tJOB\tATTEMPT\tSTATUS\tERROR", rows)
		return nil
	})
}
