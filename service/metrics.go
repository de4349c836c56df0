package service

import (
	"context"
	"errors"
	"net/http"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/sockmgr"
)

// Metrics are sockd's Prometheus metrics: the registry's state and totals
// (read from sockmgr.Stats when scraped, so the data path pays nothing for
// them beyond the counters sockmgr keeps anyway), errors by reason, the
// gRPC server metrics of go-grpc-middleware's Prometheus provider (calls
// and latency histograms per method and code), and the Go runtime's.
//
// Every label has a bounded set of values: protocols, states, close
// reasons, error reasons, gRPC methods and codes. Never a socket id, an
// address or a principal.
type Metrics struct {
	registry *prometheus.Registry
	grpc     *grpcprom.ServerMetrics
	errors   *prometheus.CounterVec
}

// NewMetrics makes the metrics of m's registry.
func NewMetrics(m *sockmgr.Manager) *Metrics {
	x := &Metrics{
		registry: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			// From a fast unary call (~100 µs) to an accept or recv that
			// waits for a minute.
			grpcprom.WithHistogramBuckets([]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60}),
		)),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sockd_errors_total",
			Help: "Calls that failed, by the reason in their ErrorInfo (an errno name such as ECONNREFUSED, or POLICY_DENIED, NOT_FOUND, ...).",
		}, []string{"reason"}),
	}
	x.registry.MustRegister(
		x.grpc,
		x.errors,
		registryCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return x
}

// Interceptors count every call (outermost, so that refused calls count
// too): gRPC's server metrics, and errors by reason. Attach streams are
// counted as calls, not message by message (see perCallOnly); their bytes
// and datagrams are in sockd_bytes_* and sockd_datagrams_*.
func (x *Metrics) Interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := x.grpc.UnaryServerInterceptor()
	stream := perCallOnly(x.grpc.StreamServerInterceptor())
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			resp, err := unary(ctx, req, info, handler)
			x.countError(err)
			return resp, err
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			err := stream(srv, ss, info, handler)
			x.countError(err)
			return err
		}
}

func (x *Metrics) countError(err error) {
	if err == nil {
		return
	}
	reason := ReasonInternal.String()
	if st, ok := status.FromError(err); ok {
		reason = reasonOf(st)
	} else if errors.Is(err, context.Canceled) {
		reason = ReasonCancelled.String()
	}
	x.errors.WithLabelValues(reason).Inc()
}

// InitializeMetrics makes every method's series exist (at zero) before its
// first call, so that rates and absences are easy to query.
func (x *Metrics) InitializeMetrics(srv *grpc.Server) { x.grpc.InitializeMetrics(srv) }

// Handler serves the metrics in Prometheus' text format.
func (x *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(x.registry, promhttp.HandlerOpts{Registry: x.registry})
}

// registryCollector turns sockmgr.Stats into metrics at each scrape.
type registryCollector struct{ m *sockmgr.Manager }

var (
	descOpen = prometheus.NewDesc("sockd_sockets_open",
		"Sockets open now, by protocol and state.", []string{"protocol", "state"}, nil)
	descCreated = prometheus.NewDesc("sockd_sockets_created_total",
		"Sockets made (created or accepted), by protocol.", []string{"protocol"}, nil)
	descClosed = prometheus.NewDesc("sockd_sockets_closed_total",
		"Sockets closed, by reason: client (a close call), idle (idle timeout), lease (its lease lapsed or was revoked), shutdown (the daemon stopped).", []string{"reason"}, nil)
	descBytesSent = prometheus.NewDesc("sockd_bytes_sent_total",
		"Bytes handed to the kernel by sends, by protocol.", []string{"protocol"}, nil)
	descBytesReceived = prometheus.NewDesc("sockd_bytes_received_total",
		"Bytes received from the kernel, by protocol.", []string{"protocol"}, nil)
	descDgramsSent = prometheus.NewDesc("sockd_datagrams_sent_total",
		"UDP datagrams sent.", nil, nil)
	descDgramsReceived = prometheus.NewDesc("sockd_datagrams_received_total",
		"UDP datagrams received.", nil, nil)
	descAccepted = prometheus.NewDesc("sockd_accepted_connections_total",
		"Connections accepted by listening sockets.", nil, nil)
	descLeases = prometheus.NewDesc("sockd_leases",
		"Leases held now.", nil, nil)
	descEvents = prometheus.NewDesc("sockd_events_published_total",
		"Socket events published (the last event's sequence number).", nil, nil)
	descSubscribers = prometheus.NewDesc("sockd_event_subscribers",
		"Event subscribers now (WatchEvents streams, GET /v1/events).", nil, nil)
	descDropped = prometheus.NewDesc("sockd_events_dropped_total",
		"Events not delivered to a subscriber that fell behind (each was told how many it missed).", nil, nil)
)

var (
	protocols   = []sockmgr.Protocol{sockmgr.TCP, sockmgr.UDP}
	openStates  = []sockmgr.State{sockmgr.StateCreated, sockmgr.StateBound, sockmgr.StateListening, sockmgr.StateConnected}
	closeReason = []string{"client", "idle", "lease", "shutdown"}
)

func (c registryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descCreated, descClosed, descBytesSent, descBytesReceived,
		descDgramsSent, descDgramsReceived, descAccepted, descLeases, descEvents, descSubscribers, descDropped} {
		ch <- d
	}
}

func (c registryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Stats()
	for _, p := range protocols {
		for _, s := range openStates {
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue,
				float64(st.Open[sockmgr.ProtocolState{Protocol: p, State: s}]), p.String(), stateLabel(s))
		}
		ch <- prometheus.MustNewConstMetric(descCreated, prometheus.CounterValue, float64(st.Created[p]), p.String())
		ch <- prometheus.MustNewConstMetric(descBytesSent, prometheus.CounterValue, float64(st.BytesSent[p]), p.String())
		ch <- prometheus.MustNewConstMetric(descBytesReceived, prometheus.CounterValue, float64(st.BytesReceived[p]), p.String())
	}
	for _, r := range closeReason {
		ch <- prometheus.MustNewConstMetric(descClosed, prometheus.CounterValue, float64(st.Closed[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descDgramsSent, prometheus.CounterValue, float64(st.DatagramsSent))
	ch <- prometheus.MustNewConstMetric(descDgramsReceived, prometheus.CounterValue, float64(st.DatagramsReceived))
	ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(st.Accepted))
	ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(st.Leases))
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.EventsPublished))
	ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.EventsDropped))
}

// stateLabel is a state as a label value: lower case, as Prometheus labels
// usually are ("listening").
func stateLabel(s sockmgr.State) string {
	switch s {
	case sockmgr.StateCreated:
		return "created"
	case sockmgr.StateBound:
		return "bound"
	case sockmgr.StateListening:
		return "listening"
	case sockmgr.StateConnected:
		return "connected"
	}
	return "closed"
}
