package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockd/sockd/relay"
)

// relayCollector turns relay.Stats into metrics at each scrape: proxies and
// relays open, bytes and datagrams relayed by direction, faults applied by
// type, relays ended by reason, proxy connections and upstream failures.
// Labels are directions, fault types and end reasons: bounded sets.
type relayCollector struct{ r *relay.Manager }

var (
	descProxies = prometheus.NewDesc("sockd_proxies",
		"Proxies now.", nil, nil)
	descRelays = prometheus.NewDesc("sockd_relays",
		"Relays now (a proxy's TCP connections and UDP sessions included).", nil, nil)
	descRelayBytes = prometheus.NewDesc("sockd_relay_bytes_total",
		"Bytes moved by relays, by direction (upstream: client to server).", []string{"direction"}, nil)
	descRelayDatagrams = prometheus.NewDesc("sockd_relay_datagrams_total",
		"UDP datagrams moved by relays, by direction.", []string{"direction"}, nil)
	descFaultsApplied = prometheus.NewDesc("sockd_faults_applied_total",
		"Connections and UDP sessions a fault was rolled on and applied to, by fault type.", []string{"type"}, nil)
	descRelaysEnded = prometheus.NewDesc("sockd_relays_ended_total",
		"Relays that ended, by why (eof, reset, closed, deleted, fault, idle, proxy, shutdown).", []string{"reason"}, nil)
	descProxyConns = prometheus.NewDesc("sockd_proxy_connections_total",
		"Connections accepted (TCP) or sessions made (UDP) by proxies.", nil, nil)
	descUpstreamErrors = prometheus.NewDesc("sockd_proxy_upstream_errors_total",
		"Proxy connections whose upstream could not be reached.", nil, nil)
)

var relayEndReasons = []string{"eof", "reset", "closed", "deleted", "fault", "idle", "proxy", "shutdown"}

func (c relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProxies, descRelays, descRelayBytes, descRelayDatagrams, descFaultsApplied,
		descRelaysEnded, descProxyConns, descUpstreamErrors} {
		ch <- d
	}
}

func (c relayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(descProxies, prometheus.GaugeValue, float64(st.Proxies))
	ch <- prometheus.MustNewConstMetric(descRelays, prometheus.GaugeValue, float64(st.Relays))
	for _, d := range []relay.Direction{relay.Upstream, relay.Downstream} {
		ch <- prometheus.MustNewConstMetric(descRelayBytes, prometheus.CounterValue, float64(st.Bytes[d]), d.String())
		ch <- prometheus.MustNewConstMetric(descRelayDatagrams, prometheus.CounterValue, float64(st.Datagrams[d]), d.String())
	}
	for _, t := range relay.FaultTypes() {
		ch <- prometheus.MustNewConstMetric(descFaultsApplied, prometheus.CounterValue, float64(st.FaultsApplied[t]), t.String())
	}
	for _, r := range relayEndReasons {
		ch <- prometheus.MustNewConstMetric(descRelaysEnded, prometheus.CounterValue, float64(st.RelaysEndedBy[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(descProxyConns, prometheus.CounterValue, float64(st.ProxyConnections))
	ch <- prometheus.MustNewConstMetric(descUpstreamErrors, prometheus.CounterValue, float64(st.UpstreamErrors))
}

// WithRelays adds the relay manager's metrics.
func (x *Metrics) WithRelays(r *relay.Manager) *Metrics {
	x.registry.MustRegister(relayCollector{r})
	return x
}

// captureCollector reports the capture rings' memory and what they dropped.
type captureCollector struct{ c *Captures }

var (
	descCaptureBytes = prometheus.NewDesc("sockd_capture_memory_bytes",
		"Bytes the capture rings hold against --capture-memory.", nil, nil)
	descCaptureLimit = prometheus.NewDesc("sockd_capture_memory_limit_bytes",
		"--capture-memory.", nil, nil)
	descCaptureRings = prometheus.NewDesc("sockd_capture_rings",
		"Capture rings kept (of open sockets, and of closed ones still kept for export).", nil, nil)
	descCaptureDropped = prometheus.NewDesc("sockd_capture_dropped_bytes_total",
		"Captured payload bytes dropped because the shared budget was full.", nil, nil)
)

func (c captureCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCaptureBytes, descCaptureLimit, descCaptureRings, descCaptureDropped} {
		ch <- d
	}
}

func (c captureCollector) Collect(ch chan<- prometheus.Metric) {
	c.c.mu.Lock()
	rings := len(c.c.order)
	c.c.mu.Unlock()
	dropped, _ := c.c.budget.Dropped()
	ch <- prometheus.MustNewConstMetric(descCaptureBytes, prometheus.GaugeValue, float64(c.c.budget.Used()))
	ch <- prometheus.MustNewConstMetric(descCaptureLimit, prometheus.GaugeValue, float64(c.c.budget.Limit()))
	ch <- prometheus.MustNewConstMetric(descCaptureRings, prometheus.GaugeValue, float64(rings))
	ch <- prometheus.MustNewConstMetric(descCaptureDropped, prometheus.CounterValue, float64(dropped))
}

// WithCaptures adds the captures' metrics (nil: none).
func (x *Metrics) WithCaptures(c *Captures) *Metrics {
	if c != nil {
		x.registry.MustRegister(captureCollector{c})
	}
	return x
}
