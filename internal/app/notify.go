package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbackup/dbackup/internal/backup"
	"github.com/dbackup/dbackup/internal/notify"
	"github.com/dbackup/dbackup/internal/store"
)

// Notification settings.
const (
	SettingNotifyTimeout  = "notify_timeout_seconds"
	SettingNotifyAttempts = "notify_attempts"
)

func (a *App) intSetting(ctx context.Context, name string) int {
	v, ok, err := a.Store.GetSetting(ctx, name)
	if err == nil && ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	n, _ := strconv.Atoi(settings[name].def)
	return n
}

// deliver sends ev to every channel in the background: the caller never
// waits. Each channel gets a timeout per attempt and a few attempts, and
// every attempt lands in the notification log.
func (a *App) deliver(ev notify.Event, channels []*backup.Endpoint) {
	for _, ch := range channels {
		a.notifying.add()
		go func() {
			defer a.notifying.done()
			a.send(context.Background(), ch, ev)
		}()
	}
}

// send delivers one event to one channel, with retries; it returns the last error.
func (a *App) send(ctx context.Context, ch *backup.Endpoint, ev notify.Event) error {
	n, err := a.Channels.New(ch)
	if err != nil {
		a.logAttempt(ctx, ch, ev, 1, "", err)
		return err
	}
	timeout := time.Duration(a.intSetting(ctx, SettingNotifyTimeout)) * time.Second
	attempts := a.intSetting(ctx, SettingNotifyAttempts)
	for i := 1; ; i++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		payload, err := n.Notify(actx, ev)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", timeout)
		}
		a.logAttempt(ctx, ch, ev, i, payload, err)
		if err == nil || i >= attempts {
			return err
		}
		time.Sleep(time.Duration(i) * time.Second)
	}
}

func (a *App) logAttempt(ctx context.Context, ch *backup.Endpoint, ev notify.Event, attempt int, payload string, err error) {
	entry := &backup.NotificationLogEntry{ChannelID: ch.ID, ChannelName: ch.Name, ChannelType: ch.Type, Event: string(ev.Kind),
		Outcome: string(ev.Outcome), JobName: ev.JobName, ExecutionID: ev.ExecutionID, Attempt: attempt, Status: "sent", Payload: payload}
	if err != nil {
		entry.Status, entry.Error = "failed", err.Error()
		a.Metrics.NotificationFailed(ch.Name)
		a.Log.Warn("notification failed", "channel", ch.Name, "event", ev.Kind, "attempt", attempt, "err", err)
	}
	if werr := a.Store.AppendNotificationLog(context.WithoutCancel(ctx), entry); werr != nil {
		a.Log.Error("write notification log", "err", werr)
	}
}

// WaitNotifications waits until every notification in flight is delivered
// or has failed for good.
func (a *App) WaitNotifications() { a.notifying.wait() }

// inFlight counts goroutines in flight. Unlike a WaitGroup's, its add may
// come while someone waits (a run finishing while notifications are
// awaited): the wait then lasts until the count is zero.
type inFlight struct {
	mu   sync.Mutex
	n    int
	zero sync.Cond
}

func (f *inFlight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inFlight) done() {
	f.mu.Lock()
	if f.n--; f.n == 0 && f.zero.L != nil {
		f.zero.Broadcast()
	}
	f.mu.Unlock()
}

func (f *inFlight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.zero.L == nil {
		f.zero.L = &f.mu
	}
	for f.n > 0 {
		f.zero.Wait()
	}
}

// jobChannels returns the channels a job routes outcome to.
func (a *App) jobChannels(ctx context.Context, job *backup.Job, outcome string, onlyType string) []*backup.Endpoint {
	var out []*backup.Endpoint
	for _, r := range job.Notifications {
		if outcome != "" && !slices.Contains(r.Outcomes, outcome) {
			continue
		}
		ch, err := a.Store.Channels().Get(ctx, r.ChannelID)
		if err != nil || (onlyType != "" && ch.Type != onlyType) {
			continue
		}
		out = append(out, ch)
	}
	return out
}

// systemChannels returns the channels that receive a system event kind.
func (a *App) systemChannels(ctx context.Context, kind notify.Kind) []*backup.Endpoint {
	routes, err := a.Store.SystemChannels(ctx)
	if err != nil {
		return nil
	}
	var out []*backup.Endpoint
	for id, events := range routes {
		if slices.Contains(events, string(kind)) {
			if ch, err := a.Store.Channels().Get(ctx, id); err == nil {
				out = append(out, ch)
			}
		}
	}
	return out
}

// onStart pings a job's ping channels that a backup started.
func (a *App) onStart(e *backup.Execution) {
	if e.Kind != backup.KindBackup {
		return
	}
	switch e.Trigger {
	case backup.TriggerSchedule, backup.TriggerCatchUp, backup.TriggerRetry: // nobody asked: the system did
		a.Audit(WithPrincipal(context.Background(), &Principal{Actor: "system"}), "job.run", e.JobName, true,
			fmt.Sprintf("execution %s, trigger %s", e.ID, e.Trigger))
	}
	ctx := context.Background()
	job, err := a.Store.GetJob(ctx, e.JobID)
	if err != nil {
		return
	}
	if chs := a.jobChannels(ctx, job, "", "ping"); len(chs) > 0 {
		a.deliver(notify.Event{Kind: notify.KindStart, Title: "Backup started: " + e.JobName, JobName: e.JobName, ExecutionID: e.ID, Time: time.Now().UTC()}, chs)
	}
}

// onFinish routes a finished execution's outcome.
func (a *App) onFinish(e *backup.Execution) {
	a.Metrics.Ended(e)
	ctx := context.Background()
	switch e.Kind {
	case backup.KindBackup:
		job, err := a.Store.GetJob(ctx, e.JobID)
		if err != nil {
			return
		}
		if chs := a.jobChannels(ctx, job, string(e.Status), ""); len(chs) > 0 {
			a.deliver(a.backupEvent(ctx, job, e), chs)
		}
		a.drillAfterBackup(ctx, job, e)
	case backup.KindDrill:
		job, err := a.Store.GetJob(ctx, e.JobID)
		if err != nil {
			return
		}
		// A drill that could not run (no room) is news for those told of failures.
		outcome := e.Status
		if outcome == backup.StatusSkipped {
			outcome = backup.StatusFailed
		}
		if chs := a.jobChannels(ctx, job, string(outcome), ""); len(chs) > 0 {
			a.deliver(drillEvent(e), chs)
		}
	case backup.KindRestore:
		if chs := a.systemChannels(ctx, notify.KindRestore); len(chs) > 0 {
			a.deliver(restoreEvent(e), chs)
		}
	}
}

// onDestinationFailed tells the system channels a destination failed its check.
func (a *App) onDestinationFailed(name string, err error) {
	if chs := a.systemChannels(context.Background(), notify.KindDestination); len(chs) > 0 {
		a.deliver(notify.Event{Kind: notify.KindDestination, Outcome: notify.OutcomeFailed, Title: "Destination unreachable: " + name,
			Message: err.Error(), Fields: []notify.Field{{Name: "Destination", Value: name}}, Time: time.Now().UTC()}, chs)
	}
}

var titles = map[backup.Status]string{backup.StatusSuccess: "Backup succeeded", backup.StatusPartial: "Backup partially failed",
	backup.StatusFailed: "Backup failed", backup.StatusCancelled: "Backup cancelled"}

// backupEvent is the message for a finished backup: job, source,
// databases, duration, size, each destination's result and the first error.
func (a *App) backupEvent(ctx context.Context, job *backup.Job, e *backup.Execution) notify.Event {
	ev := notify.Event{Kind: notify.KindBackup, Outcome: notify.Outcome(e.Status), Title: titles[e.Status] + ": " + e.JobName,
		JobName: e.JobName, ExecutionID: e.ID, Time: time.Now().UTC()}
	ok := 0
	var dests []string
	for _, d := range e.Destinations {
		line := d.Name + ": " + string(d.Status)
		if d.Status == backup.StatusSuccess {
			ok++
			if d.Verified {
				line += " (verified)"
			}
		} else if d.Error != "" {
			line += " (" + d.Error + ")"
		}
		dests = append(dests, line)
	}
	var took time.Duration
	if e.StartedAt != nil && e.EndedAt != nil {
		took = e.EndedAt.Sub(*e.StartedAt).Round(time.Second)
	}
	switch e.Status {
	case backup.StatusSuccess:
		ev.Message = fmt.Sprintf("Stored at %d destination(s) in %s.", ok, took)
	case backup.StatusPartial:
		ev.Message = fmt.Sprintf("Stored at %d of %d destinations.", ok, len(e.Destinations))
	default:
		ev.Message = e.Error
	}
	source := "?"
	if src, err := a.Store.Sources().Get(ctx, job.SourceID); err == nil {
		source = src.Name + " (" + src.Type + ")"
	}
	dbs := "all"
	if len(job.Databases) > 0 {
		dbs = strings.Join(job.Databases, ", ")
	}
	ev.Fields = []notify.Field{
		{Name: "Job", Value: e.JobName, Inline: true},
		{Name: "Source", Value: source, Inline: true},
		{Name: "Databases", Value: dbs, Inline: true},
		{Name: "Duration", Value: took.String(), Inline: true},
		{Name: "Size", Value: fmt.Sprintf("%s dumped, %s stored", backup.HumanBytes(e.BytesDumped), backup.HumanBytes(e.BytesStored)), Inline: true},
		{Name: "Trigger", Value: string(e.Trigger), Inline: true},
		{Name: "Destinations", Value: strings.Join(dests, "\n")},
	}
	if e.BackupName != "" && ok > 0 {
		ev.Fields = append(ev.Fields, notify.Field{Name: "Backup", Value: e.BackupName})
	}
	if e.Error != "" {
		ev.Fields = append(ev.Fields, notify.Field{Name: "Error", Value: e.Error})
	}
	return ev
}

func restoreEvent(e *backup.Execution) notify.Event {
	verdict := map[backup.Status]string{backup.StatusSuccess: "Restore succeeded", backup.StatusCancelled: "Restore cancelled"}[e.Status]
	if verdict == "" {
		verdict = "Restore failed"
	}
	ev := notify.Event{Kind: notify.KindRestore, Outcome: notify.Outcome(e.Status), Title: verdict + ": " + e.BackupName, Message: e.Error,
		ExecutionID: e.ID, Time: time.Now().UTC(), Fields: []notify.Field{{Name: "Backup", Value: e.BackupName}}}
	if e.Status == backup.StatusPartial {
		ev.Outcome = notify.OutcomeFailed
	}
	return ev
}

// TestChannel sends a test message to a channel and waits for the result.
func (a *App) TestChannel(ctx context.Context, ref string) error {
	ch, err := a.Store.Channels().Get(ctx, ref)
	if err != nil {
		return err
	}
	return a.testChannel(ctx, ch)
}

// testChannel sends a test message through a channel, saved (its
// attempts logged, retried) or not (one attempt, nothing logged).
func (a *App) testChannel(ctx context.Context, ch *backup.Endpoint) error {
	ev := notify.Event{Kind: notify.KindTest, Outcome: notify.OutcomeSuccess, Title: "Test notification from dbackup",
		Message: "If you can read this, channel " + ch.Name + " works.", Time: time.Now().UTC(),
		Fields: []notify.Field{{Name: "Channel", Value: ch.Name + " (" + ch.Type + ")"}}}
	if ch.ID != "" {
		return a.send(ctx, ch, ev)
	}
	n, err := a.Channels.New(ch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.intSetting(ctx, SettingNotifyTimeout))*time.Second)
	defer cancel()
	_, err = n.Notify(ctx, ev)
	return err
}

// CheckMissed raises the missed-backup alarm for every enabled job whose last
// success is older than its expected interval: once, then again each reminder
// interval, until a backup succeeds. It returns how many alarms it sent.
func (a *App) CheckMissed(ctx context.Context, now time.Time) (int, error) {
	jobs, err := a.Store.ListJobs(ctx)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, job := range jobs {
		expect := time.Duration(job.ExpectEvery)
		if expect <= 0 || !job.Enabled {
			continue
		}
		remind := time.Duration(job.RemindEvery)
		if remind <= 0 {
			remind = 24 * time.Hour
		}
		last, since := job.CreatedAt, "the job was created"
		if ex, err := a.Store.ListExecutions(ctx, store.ExecutionFilter{JobID: job.ID, Status: backup.StatusSuccess, Kind: backup.KindBackup, Limit: 1}); err == nil && len(ex) > 0 && ex[0].EndedAt != nil {
			last, since = *ex[0].EndedAt, "the last successful backup"
		}
		if now.Sub(last) <= expect {
			continue
		}
		if job.AlarmAt != nil && job.AlarmAt.After(last) && now.Sub(*job.AlarmAt) < remind {
			continue // already alarmed for this gap; not yet time to remind
		}
		chs := a.jobChannels(ctx, job, string(backup.StatusFailed), "")
		if err := a.Store.MarkAlarm(ctx, job.ID, backup.KindBackup, now); err != nil {
			return sent, err
		}
		if len(chs) == 0 {
			continue
		}
		a.deliver(notify.Event{Kind: notify.KindMissed, Outcome: notify.OutcomeFailed, Title: "Missed backup: " + job.Name,
			Message: fmt.Sprintf("No successful backup for %s since %s (%s); expected at least every %s.",
				now.Sub(last).Round(time.Minute), since, last.In(a.Location).Format("2006-01-02 15:04 MST"), expect),
			JobName: job.Name, Time: now.UTC(),
			Fields: []notify.Field{{Name: "Job", Value: job.Name}, {Name: "Expected every", Value: expect.String()},
				{Name: "Last success", Value: last.In(a.Location).Format("2006-01-02 15:04 MST")}}}, chs)
		sent++
	}
	return sent, nil
}

// WatchMissed checks for missed backups and missed recovery point
// objectives every interval until ctx ends.
func (a *App) WatchMissed(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := a.CheckMissed(ctx, now); err != nil && ctx.Err() == nil {
				a.Log.Error("missed-backup check", "err", err)
			}
			if _, err := a.CheckUnproven(ctx, now); err != nil && ctx.Err() == nil {
				a.Log.Error("recovery point check", "err", err)
			}
		}
	}
}

// WatchLeftovers drops, every interval, the databases restores kept past
// their time and the scratch databases of restores that no longer run, and
// every tenth interval aborts stale unfinished uploads.
func (a *App) WatchLeftovers(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if tick%10 == 0 {
			if _, err := a.SweepUploads(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("unfinished uploads", "err", err)
			}
		}
		if dropped, err := a.Runner.CleanLeftovers(ctx, ""); err != nil && ctx.Err() == nil {
			a.Log.Warn("restore leftovers", "dropped", dropped, "err", err)
		} else if len(dropped) > 0 {
			a.Log.Info("dropped databases restores left or kept past their time", "databases", dropped)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SetSystemEvents routes system events (restore, destination) to a channel.
func (a *App) SetSystemEvents(ctx context.Context, ref string, events []string) error {
	ch, err := a.Store.Channels().Get(ctx, ref)
	if err != nil {
		return err
	}
	for _, e := range events {
		if e != string(notify.KindRestore) && e != string(notify.KindDestination) {
			return fmt.Errorf("%w: system event %q (want restore or destination)", backup.ErrInvalid, e)
		}
	}
	return a.Store.SetSystemChannel(ctx, ch.ID, events)
}
