// Package metrics exposes dbackup to Prometheus: what runs on this node
// (counted as it happens) and the state of the whole installation (read
// from the store at each scrape).
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dbackup/dbackup/internal/backup"
)

// State is the installation as the store says at a scrape.
type State struct {
	Jobs         []JobState
	Destinations []DestState
	Queued       int
	Running      int
}

// JobState is one job's newest results.
type JobState struct {
	Name             string
	LastStatus       backup.Status // "" when it never ran
	LastSuccess      time.Time     // zero when it never succeeded
	LastDrillStatus  backup.Status
	LastDrillSuccess time.Time
}

// DestState is a destination as its last full listing found it.
type DestState struct {
	Name      string
	Checked   time.Time // zero when never listed
	Up        bool
	UsedBytes int64
	Backups   int
}

// statuses are the final statuses a job's last run can have.
var statuses = []backup.Status{backup.StatusSuccess, backup.StatusPartial, backup.StatusFailed, backup.StatusCancelled, backup.StatusSkipped}

// Metrics holds the counters of this node and reads the state at scrapes.
type Metrics struct {
	reg   *prometheus.Registry
	state func(context.Context) (State, error)
	log   *slog.Logger

	runs           *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	dumped, stored *prometheus.HistogramVec
	stageBytes     *prometheus.CounterVec
	stageSeconds   *prometheus.CounterVec
	notifyFailures *prometheus.CounterVec

	jobLastSuccess, jobLastStatus, drillLastSuccess, drillLastStatus *prometheus.Desc
	queued, running                                                  *prometheus.Desc
	destUp, destUsed, destBackups, destChecked                       *prometheus.Desc
	scrapeError                                                      *prometheus.Desc
}

// New returns the metrics; state is read at every scrape.
func New(state func(context.Context) (State, error), log *slog.Logger) *Metrics {
	size := prometheus.ExponentialBuckets(1<<20, 4, 10) // 1 MiB .. 256 GiB
	m := &Metrics{
		reg: prometheus.NewRegistry(), state: state, log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dbackup_executions_total",
			Help: "Executions that ended on this node, by kind, job and status."}, []string{"kind", "job_name", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dbackup_backup_duration_seconds",
			Help: "Wall time of backups that ended on this node.", Buckets: prometheus.ExponentialBuckets(1, 2, 16)}, []string{"job_name"}),
		dumped: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dbackup_backup_dumped_bytes",
			Help: "Bytes the dump produced, per successful backup.", Buckets: size}, []string{"job_name"}),
		stored: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dbackup_backup_stored_bytes",
			Help: "Bytes stored (compressed, encrypted) per successful backup, at each destination.", Buckets: size}, []string{"job_name"}),
		stageBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dbackup_stage_bytes_total",
			Help: "Bytes each stage of a backup handled (dump, compress, encrypt, upload, verify; per destination for the last two)."},
			[]string{"job_name", "stage", "destination"}),
		stageSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dbackup_stage_seconds_total",
			Help: "Seconds each stage of a backup spent on its own work; stages stream at once, so they overlap."},
			[]string{"job_name", "stage", "destination"}),
		notifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dbackup_notification_failures_total",
			Help: "Notification attempts that failed, by channel."}, []string{"channel"}),
		jobLastSuccess:   prometheus.NewDesc("dbackup_job_last_success_timestamp_seconds", "When the job's newest successful backup ended (jobs that never succeeded are absent).", []string{"job_name"}, nil),
		jobLastStatus:    prometheus.NewDesc("dbackup_job_last_status", "1 for the status of the job's newest backup, 0 for the others.", []string{"job_name", "status"}, nil),
		drillLastSuccess: prometheus.NewDesc("dbackup_drill_last_success_timestamp_seconds", "When the job's newest successful restore drill ended.", []string{"job_name"}, nil),
		drillLastStatus:  prometheus.NewDesc("dbackup_drill_last_status", "1 for the status of the job's newest restore drill, 0 for the others.", []string{"job_name", "status"}, nil),
		queued:           prometheus.NewDesc("dbackup_queue_depth", "Executions queued, in the whole installation.", nil, nil),
		running:          prometheus.NewDesc("dbackup_running_executions", "Executions running, in the whole installation.", nil, nil),
		destUp:           prometheus.NewDesc("dbackup_destination_up", "1 if the destination's last full listing succeeded.", []string{"destination"}, nil),
		destUsed:         prometheus.NewDesc("dbackup_destination_used_bytes", "Bytes of backups at the destination, as last listed.", []string{"destination"}, nil),
		destBackups:      prometheus.NewDesc("dbackup_destination_backups", "Backups at the destination, as last listed.", []string{"destination"}, nil),
		destChecked:      prometheus.NewDesc("dbackup_destination_checked_timestamp_seconds", "When the destination was last listed in full.", []string{"destination"}, nil),
		scrapeError:      prometheus.NewDesc("dbackup_state_scrape_error", "1 if the installation's state could not be read at this scrape.", nil, nil),
	}
	m.reg.MustRegister(m.runs, m.duration, m.dumped, m.stored, m.stageBytes, m.stageSeconds, m.notifyFailures, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{m.log}})
}

// Ended counts an execution that ended on this node; a backup's durations,
// sizes and stage timings too.
func (m *Metrics) Ended(e *backup.Execution) {
	m.runs.WithLabelValues(string(e.Kind), e.JobName, string(e.Status)).Inc()
	if e.Kind != backup.KindBackup {
		return
	}
	if e.StartedAt != nil && e.EndedAt != nil {
		m.duration.WithLabelValues(e.JobName).Observe(e.EndedAt.Sub(*e.StartedAt).Seconds())
	}
	if e.Status == backup.StatusSuccess || e.Status == backup.StatusPartial {
		m.dumped.WithLabelValues(e.JobName).Observe(float64(e.BytesDumped))
		m.stored.WithLabelValues(e.JobName).Observe(float64(e.BytesStored))
	}
	for _, t := range e.Timings {
		m.stageBytes.WithLabelValues(e.JobName, t.Stage, t.Destination).Add(float64(t.Bytes))
		m.stageSeconds.WithLabelValues(e.JobName, t.Stage, t.Destination).Add(t.Seconds)
	}
}

// NotificationFailed counts a failed delivery attempt.
func (m *Metrics) NotificationFailed(channel string) {
	m.notifyFailures.WithLabelValues(channel).Inc()
}

// Describe implements prometheus.Collector for the state read at scrapes.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.jobLastSuccess, m.jobLastStatus, m.drillLastSuccess, m.drillLastStatus,
		m.queued, m.running, m.destUp, m.destUsed, m.destBackups, m.destChecked, m.scrapeError} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the state, read now.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := m.state(ctx)
	failed := 0.0
	if err != nil {
		m.log.Warn("metrics: read state", "err", err)
		failed = 1
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(m.scrapeError, failed)
	if err != nil {
		return
	}
	gauge(m.queued, float64(st.Queued))
	gauge(m.running, float64(st.Running))
	oneOf := func(d *prometheus.Desc, job string, status backup.Status) {
		if status == "" {
			return
		}
		for _, s := range statuses {
			gauge(d, b2f(s == status), job, string(s))
		}
	}
	for _, j := range st.Jobs {
		if !j.LastSuccess.IsZero() {
			gauge(m.jobLastSuccess, float64(j.LastSuccess.Unix()), j.Name)
		}
		if !j.LastDrillSuccess.IsZero() {
			gauge(m.drillLastSuccess, float64(j.LastDrillSuccess.Unix()), j.Name)
		}
		oneOf(m.jobLastStatus, j.Name, j.LastStatus)
		oneOf(m.drillLastStatus, j.Name, j.LastDrillStatus)
	}
	for _, d := range st.Destinations {
		if d.Checked.IsZero() {
			continue
		}
		gauge(m.destUp, b2f(d.Up), d.Name)
		gauge(m.destChecked, float64(d.Checked.Unix()), d.Name)
		if d.Up {
			gauge(m.destUsed, float64(d.UsedBytes), d.Name)
			gauge(m.destBackups, float64(d.Backups), d.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "err", v) }
