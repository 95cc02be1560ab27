// Alerting rules of the kit (rendered to monitoring/rules/alerts.yml, and split into
// rules/shard/alerts.yml and rules/global/alerts.yml by each alert's hidden `placement`:
// 'shard' reads raw or per-instance series, 'global' only fleet-level recorded ones, 'both'
// runs on every evaluator).
{
  local cfg = $._config {
    errorBudget: '(1 - %s)' % $._config.sloTarget,
    sloPercent: (import 'lib/percent.libsonnet')($._config.sloTarget),
    latencyMs: std.toString($._config.latencyTargetSeconds * 1000) + 'ms',
    trafficDropPercent: std.toString($._config.trafficDropRatio * 100) + '%',
  },
  // '5m' -> '5 minutes', for the text of descriptions.
  local words(duration) =
    local n = std.parseInt(std.substr(duration, 0, std.length(duration) - 1));
    local unit = { s: 'second', m: 'minute', h: 'hour', d: 'day' }[duration[std.length(duration) - 1]];
    '%d %s%s' % [n, unit, if n == 1 then '' else 's'],
  local runbook(alert) = cfg.runbookURLPattern % std.asciiLower(alert),
  // Every alert gets its runbook from its name, so no alert can point at another's section.
  local alert(a) = a { annotations+: { runbook_url: runbook(a.alert) } },
  local fleetTraffic = 'job:syseng_http_requests:rate5m > %(pageMinRequestRate)s' % cfg,

  alertsHeader:: |||
    Alerting rules of the syseng monitoring kit. Each alert carries:
      labels.severity          page (a human acts now, day or night), ticket (next working day),
                               or none (the heartbeat, Watchdog, which only proves delivery)
      annotations.summary      one line for the notification title
      annotations.description  what is wrong, with the value, and where to look first
      annotations.runbook_url  the alert's section in docs/operations.md (the anchor is the
                               alert name in lower case), absolute (runbookURLPattern)
    Every threshold and `for:` is explained next to it; docs/operations.md explains the choices
    in more depth. The SLO: %(sloPercent)s of requests answered non-5xx over %(sloWindow)s, so the
    error budget is a 5xx ratio of %(errorBudget)s. Healthy fleets answer about 0.1%% 5xx and
    25-60 ms.
  ||| % cfg,

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'syseng.slo',
        rules: [
          alert({
            comment:: |||
              Multiwindow, multi-burn-rate (SRE workbook, "Alerting on SLOs"): each pair pages
              when its long window has burnt a given share of the %(sloWindowName)s budget, and its
              short window (about 1/12 of the long one, 1/3 for the 15m pair) shows it is still
              burning, so the page resolves soon after the errors stop:
                28.8x over 15m and 5m: 1%% of the budget in 15 minutes. The workbook's two pairs
                  alone page a 20%% outage after 22-24 minutes and a total one after 7; this pair
                  (the workbook's budget-share method at a shorter window) pages them within 15
                  and 5 (docs/operations.md#detection-times). Below 14.4%% errors it never fires,
                  so a burst shorter than a few minutes or a slow burn goes to the other pairs.
                14.4x over 1h and 5m: 2%% of the budget in an hour.
                6x over 6h and 30m: 5%% of the budget in 6 hours.
              Every window is a ratio of recorded 5m rates (recording.yml). The traffic floor:
              below %(pageMinRequestRate)s request/s for the whole job the ratios are about a
              handful of requests (1 failure in 20 is 5%%), and a page would be noise; at
              %(pageMinRequestRate)s request/s the 15m pair needs 130 failed requests.
              No `for:`: a long window at its burn rate cannot be reached by one odd evaluation
              (that is what it is for, in the workbook's method), and every minute of waiting is
              a minute of a total outage.
            ||| % cfg,
            alert: 'SysengErrorBudgetBurnFast',
            placement:: 'global',
            expr: |||
              (
                (
                  job:syseng_http_requests_errors:ratio_rate15m > (28.8 * %(errorBudget)s)
                  and
                  job:syseng_http_requests_errors:ratio_rate5m > (28.8 * %(errorBudget)s)
                )
                or
                (
                  job:syseng_http_requests_errors:ratio_rate1h > (14.4 * %(errorBudget)s)
                  and
                  job:syseng_http_requests_errors:ratio_rate5m > (14.4 * %(errorBudget)s)
                )
                or
                (
                  job:syseng_http_requests_errors:ratio_rate6h > (6 * %(errorBudget)s)
                  and
                  job:syseng_http_requests_errors:ratio_rate30m > (6 * %(errorBudget)s)
                )
              )
              and on (job)
              %(fleetTraffic)s
            ||| % (cfg { fleetTraffic: fleetTraffic }),
            'for': cfg['for'].burnFast,
            labels: { severity: 'page' },
            annotations: {
              summary: '{{ $labels.job }} is burning its error budget fast',
              description: '{{ $value | humanizePercentage }} of {{ $labels.job }} requests failed with 5xx (SLO ' + cfg.sloPercent + ': at this rate the ' + cfg.sloWindowName + ' error budget lasts less than 5 days). Check the error ratio per zone and the top instances by error ratio.',
            },
          }),
          alert({
            comment:: |||
              Ticket when 10%% of the budget burns in 3 days (1x) or in 1 day (3x): the budget
              would be gone before the %(sloWindowName)s end, but there is time to fix it in working
              hours. No traffic floor: over days even a quiet job has enough requests.
            ||| % cfg,
            alert: 'SysengErrorBudgetBurnSlow',
            placement:: 'global',
            expr: |||
              (
                job:syseng_http_requests_errors:ratio_rate1d > (3 * %(errorBudget)s)
                and
                job:syseng_http_requests_errors:ratio_rate2h > (3 * %(errorBudget)s)
              )
              or
              (
                job:syseng_http_requests_errors:ratio_rate3d > (1 * %(errorBudget)s)
                and
                job:syseng_http_requests_errors:ratio_rate6h > (1 * %(errorBudget)s)
              )
            ||| % cfg,
            'for': cfg['for'].burnSlow,
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.job }} is burning its error budget slowly',
              description: '{{ $value | humanizePercentage }} of {{ $labels.job }} requests failed with 5xx over the last days (SLO ' + cfg.sloPercent + '): the ' + cfg.sloWindowName + ' error budget will run out if this continues.',
            },
          }),
        ],
      },
      {
        name: 'syseng.latency',
        rules: [
          alert({
            comment:: |||
              Mean latency over %(latencyMs)s (4-10x the healthy 25-60 ms) for %(for)s: users of
              the whole job wait noticeably. The wait keeps a short GC or deploy spike from paging.
            ||| % (cfg { 'for': cfg['for'].latency }),
            alert: 'SysengLatencyHigh',
            placement:: 'global',
            expr: 'job:syseng_http_request_duration_seconds:mean5m > %(latencyTargetSeconds)s' % cfg,
            'for': cfg['for'].latency,
            labels: { severity: 'page' },
            annotations: {
              summary: '{{ $labels.job }} mean latency is above ' + cfg.latencyMs,
              description: 'Requests to {{ $labels.job }} take {{ $value | humanizeDuration }} on average over 5 minutes (target: below ' + cfg.latencyMs + '). Check latency per zone and per instance.',
            },
          }),
          alert({
            comment:: 'One slow instance hurts only its share of requests: a ticket, after %s.' % cfg['for'].instanceLatency,
            alert: 'SysengInstanceLatencyHigh',
            placement:: 'shard',
            expr: 'instance:syseng_http_request_duration_seconds:mean5m > %(latencyTargetSeconds)s' % cfg,
            'for': cfg['for'].instanceLatency,
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.instance }} mean latency is above ' + cfg.latencyMs,
              description: 'Requests to {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.%(zoneLabel)s }}) take {{ $value | humanizeDuration }} on average over 5 minutes (target: below ' % cfg + cfg.latencyMs + ').',
            },
          }),
        ],
      },
      {
        name: 'syseng.errors',
        rules: [
          alert({
            comment:: |||
              One instance answering over 5%% 5xx (10x the budget ratio, 50x a healthy instance)
              for %(for)s. The rate guard (above 0.1 request/s, 30 requests in 5 minutes) keeps a
              nearly idle instance from alerting on one failed request.
            ||| % (cfg { 'for': cfg['for'].instanceErrors }),
            alert: 'SysengInstanceErrorsHigh',
            placement:: 'shard',
            expr: |||
              instance:syseng_http_requests_errors:ratio_rate5m > 0.05
              and
              instance:syseng_http_requests:rate5m > 0.1
            |||,
            'for': cfg['for'].instanceErrors,
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.instance }} answers more than 5% errors',
              description: '{{ $value | humanizePercentage }} of the requests to {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.%(zoneLabel)s }}) failed with 5xx over 5 minutes.' % cfg,
            },
          }),
        ],
      },
      {
        name: 'syseng.availability',
        rules: [
          alert({
            comment:: |||
              More than 10%% of a job's instances without valid stats for %(for)s: a capacity loss
              that rolling deploys (a few percent at a time) do not cause, and a whole zone (a third
              of the fleet) certainly does. At least 2 instances, so that one instance never pages,
              whatever the fleet size (that is SysengInstanceDown's ticket).
            ||| % (cfg { 'for': cfg['for'].fleetInstancesDown }),
            alert: 'SysengFleetInstancesDown',
            placement:: 'global',
            expr: |||
              (1 - job:syseng_up:ratio) > 0.10
              and
              (job:up:count - job:syseng_up:sum) >= 2
            |||,
            'for': cfg['for'].fleetInstancesDown,
            labels: { severity: 'page' },
            annotations: {
              summary: '{{ $value | humanizePercentage }} of {{ $labels.job }} instances are down',
              description: '{{ $value | humanizePercentage }} of the {{ $labels.job }} targets give no valid stats (limit: 10%). Check which zones are affected (job_zone:syseng_up:ratio) and whether the exporter is up (SysengExporterDown).',
            },
          }),
          alert({
            comment:: |||
              Prometheus cannot scrape the target at all. Sidecar: the pod (service and exporter) is
              gone or unreachable. Multi-target: the exporter failed this probe. %(for)s (20 scrapes
              at 15s) rides over a restart.
            ||| % (cfg { 'for': cfg['for'].instanceDown }),
            alert: 'SysengInstanceDown',
            placement:: 'shard',
            expr: 'up{%(serviceSelector)s} == 0' % cfg,
            'for': cfg['for'].instanceDown,
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.instance }} cannot be scraped',
              description: 'Prometheus has failed to scrape {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.%(zoneLabel)s }}) for %(for)s.' % (cfg { 'for': words(cfg['for'].instanceDown) }),
            },
          }),
          alert({
            comment:: |||
              The exporter answers but reports syseng_up 0: the instance's /stats refuses
              connections, hangs past the timeout, answers an HTTP error or a broken document. In
              the multi-target style this is also how a stopped instance looks.
            |||,
            alert: 'SysengExporterCannotReadInstance',
            placement:: 'shard',
            expr: 'syseng_up{%(serviceSelector)s} == 0 and on (job, instance) up{%(serviceSelector)s} == 1' % cfg,
            'for': cfg['for'].exporterCannotRead,
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'The exporter cannot read {{ $labels.instance }}',
              description: "The exporter is up but has not read valid /stats from {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.%(zoneLabel)s }}) for %(for)s. The exporter's landing page lists the reason of each recent scrape." % (cfg { 'for': words(cfg['for'].exporterCannotRead) }),
            },
          }),
          alert({
            comment:: |||
              No service target at all: discovery broke, the relabelling drops everything, or the
              whole deployment is gone. Every other alert is blind then, so it pages; %(for)s lets a
              discovery refresh or a redeploy settle.
            ||| % (cfg { 'for': cfg['for'].targetsAbsent }),
            alert: 'SysengTargetsAbsent',
            placement:: 'shard',
            expr: 'absent(up{%(serviceSelector)s})' % cfg,
            'for': cfg['for'].targetsAbsent,
            labels: { severity: 'page' },
            annotations: {
              summary: 'Prometheus has no syseng targets',
              description: 'No target matching {%(serviceSelector)s} has existed for %(for)s: service discovery or the deployment is broken, and no other syseng alert can fire.' % (cfg { 'for': words(cfg['for'].targetsAbsent) }),
            },
          }),
          alert({
            comment:: |||
              A zone's targets are gone from service discovery while others remain: an evicted
              deployment, a rewritten file_sd file, a broken relabelling. Their series end (they do
              not go to 0), so no ratio notices: the zone had targets during the last %(window)s
              (max_over_time of the recorded counts, so no long history is needed) and has none
              now. The value is how many it had. A shard that stopped sending (SysengShardMissing)
              explains its zones' absence in a global store, so then this stays silent. Removing
              a zone on purpose needs a silence for %(window)s. `for: %(for)s` lets a discovery
              refresh settle.
            ||| % (cfg { window: cfg.trafficReferenceWindow, 'for': cfg['for'].zoneVanished }),
            alert: 'SysengZoneVanished',
            placement:: 'global',
            expr: |||
              (
                max_over_time(job_zone:up:count[%(window)s])
                unless on (job, %(zoneLabel)s)
                job_zone:up:count
              )
              unless on (job)
              (
                count by (job) (max_over_time(job_shard:up:count[1h]))
                >
                count by (job) (job_shard:up:count)
              )
            ||| % (cfg { window: cfg.trafficReferenceWindow }),
            'for': cfg['for'].zoneVanished,
            labels: { severity: 'page' },
            annotations: {
              summary: '{{ $labels.job }} has no targets left in {{ $labels.%(zoneLabel)s }}' % cfg,
              description: '{{ $labels.%(zoneLabel)s }} had {{ $value }} {{ $labels.job }} targets during the last %(window)s and has none now: its instances are not monitored (or gone). Check service discovery for the zone and the deployment there.' % (cfg { window: words(cfg.trafficReferenceWindow) }),
            },
          }),
          alert({
            comment:: |||
              Fewer than %(percent)s of the targets a Prometheus (a shard) had at most during the
              last hour: a share of the fleet vanished from discovery. A ticket, not a page: the
              kit's autoscaler may remove 10%% of the replicas a minute after 10 minutes of low
              load, so a halving within an hour can be intended; if it is not, the capacity loss
              shows in latency and errors, which page. Per shard, so that a shard that stopped
              sending (SysengShardMissing) does not count as a shrinking fleet.
            ||| % (cfg { percent: std.toString(cfg.targetsVanishedRatio * 100) + '%' }),
            alert: 'SysengTargetsVanished',
            placement:: 'global',
            expr: |||
              job_shard:up:count / max_over_time(job_shard:up:count[1h]) < %(targetsVanishedRatio)s
            ||| % cfg,
            'for': cfg['for'].targetsVanished,
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.job }} lost targets from discovery',
              description: '{{ $labels.job }} has {{ $value | humanizePercentage }} of the targets it had at most during the last hour. Check service discovery and the deployment; an intended scale-down explains it.',
            },
          }),
          alert({
            comment:: |||
              The multi-target exporter itself. In the sidecar style the exporter's metrics come with
              the service's, and SysengInstanceDown covers it.
            |||,
            alert: 'SysengExporterDown',
            placement:: 'shard',
            expr: 'up{%(exporterSelector)s} == 0' % cfg,
            'for': cfg['for'].exporterDown,
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'Exporter {{ $labels.instance }} is down',
              description: 'Prometheus has failed to scrape the exporter {{ $labels.instance }} for %s. Every instance it probes is unreadable while it is down.' % words(cfg['for'].exporterDown),
            },
          }),
        ],
      },
      {
        name: 'syseng.stability',
        rules: [
          alert({
            comment:: |||
              Counters going back to a lower value mean the process restarted. One restart is a
              deploy; 3 within 30 minutes is a crash loop. The window is the memory, so no `for:`.
            |||,
            alert: 'SysengInstanceRestarting',
            placement:: 'shard',
            expr: |||
              max by (job, %(zoneLabel)s, instance) (
                resets(syseng_http_request_duration_seconds_count{%(serviceSelector)s}[30m])
              ) >= 3
            ||| % cfg,
            'for': '0m',
            labels: { severity: 'ticket' },
            annotations: {
              summary: '{{ $labels.instance }} is restarting repeatedly',
              description: '{{ $labels.instance }} ({{ $labels.job }}, {{ $labels.%(zoneLabel)s }}) restarted {{ $value }} times in 30 minutes.' % cfg,
            },
          }),
          alert({
            comment:: |||
              A zone's traffic below %(percent)s of its maximum over the last %(window)s, for %(for)s,
              while that maximum was at least %(trafficMinRequestRate)s request/s. Instances look
              healthy in this case (they just get no requests), so nothing else alerts: the load
              balancer, DNS or a client is broken. The reference is the maximum over the window,
              not the rate an hour ago, so the alert keeps firing for as long as the drop lasts (up
              to %(window)s) instead of resolving once the reference reaches the dropped period. A
              daily cycle rarely falls to a tenth of its peak within %(window)s.
            ||| % (cfg { percent: cfg.trafficDropPercent, window: cfg.trafficReferenceWindow, 'for': cfg['for'].trafficDrop }),
            alert: 'SysengTrafficDrop',
            placement:: 'global',
            expr: |||
              job_zone:syseng_http_requests:rate5m
              / max_over_time(job_zone:syseng_http_requests:rate5m[%(window)s])
              < %(trafficDropRatio)s
              and
              max_over_time(job_zone:syseng_http_requests:rate5m[%(window)s]) > %(trafficMinRequestRate)s
            ||| % (cfg { window: cfg.trafficReferenceWindow }),
            'for': cfg['for'].trafficDrop,
            labels: { severity: 'page' },
            annotations: {
              summary: 'Traffic to {{ $labels.job }} in {{ $labels.%(zoneLabel)s }} dropped to near zero' % cfg,
              description: '{{ $labels.job }} in {{ $labels.%(zoneLabel)s }} receives {{ $value | humanizePercentage }} of the most requests per second it received during the last %(window)s.' % (cfg { window: words(cfg.trafficReferenceWindow) }),
            },
          }),
        ],
      },
      {
        name: 'syseng.meta',
        comment:: |||
          The monitoring itself. Nothing above can page when Prometheus, its rules or Alertmanager
          fail, so: a heartbeat that a dead man's switch outside this stack expects, and alerts on
          the failures that stay visible from inside. These read the Prometheus and Alertmanager
          self-metrics, so both must be scraped (deploy/compose/prometheus.yml does).
        |||,
        rules: [
          alert({
            comment:: |||
              Always firing. Alertmanager sends it every minute to the dead man's switch receiver
              (alertmanager.yml), a service that pages when the heartbeat stops: Prometheus,
              Alertmanager or the path between them is down. Severity none: it never reaches a
              human by itself. Every evaluator (each shard, the global vmalert) sends its own.
            |||,
            alert: 'Watchdog',
            placement:: 'both',
            expr: 'vector(1)',
            labels: { severity: 'none' },
            annotations: {
              summary: 'The alerting pipeline is alive',
              description: 'Always firing, on purpose: the dead man\'s switch receiver expects this heartbeat and pages when it stops arriving.',
            },
          }),
          alert({
            comment:: |||
              A rule group that fails to evaluate leaves its alerts blind (a query error, a
              duplicate series, a timeout at scale): page, after %(for)s so that one odd failure
              does not.
            ||| % (cfg { 'for': cfg['for'].ruleFailures }),
            alert: 'PrometheusRuleEvaluationFailures',
            placement:: 'shard',
            expr: |||
              sum by (job, instance, rule_group) (
                increase(prometheus_rule_evaluation_failures_total{%(prometheusSelector)s}[5m])
              ) > 0
            ||| % cfg,
            'for': cfg['for'].ruleFailures,
            labels: { severity: 'page' },
            annotations: {
              summary: 'Prometheus {{ $labels.instance }} fails to evaluate {{ $labels.rule_group }}',
              description: '{{ $value }} evaluations of the rule group {{ $labels.rule_group }} failed on {{ $labels.instance }} in 5 minutes: its alerts cannot fire. The log of that Prometheus names the error.',
            },
          }),
          alert({
            comment:: |||
              Prometheus cannot hand alerts to Alertmanager (errors or a full queue). A ticket:
              if every notification fails the page would not arrive anyway, and the heartbeat
              stopping is what pages then; if some do, this one is delivered.
            |||,
            alert: 'PrometheusNotificationsFailing',
            placement:: 'shard',
            expr: |||
              sum by (job, instance) (rate(prometheus_notifications_errors_total{%(prometheusSelector)s}[5m])) > 0
              or
              sum by (job, instance) (rate(prometheus_notifications_dropped_total{%(prometheusSelector)s}[5m])) > 0
            ||| % cfg,
            'for': cfg['for'].notificationFailures,
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'Prometheus {{ $labels.instance }} fails to send alerts to Alertmanager',
              description: 'Prometheus {{ $labels.instance }} fails or drops {{ $value | humanize }} alert notifications per second to Alertmanager. Check that Alertmanager is up and reachable.',
            },
          }),
          alert({
            comment:: |||
              Alertmanager cannot deliver to a receiver (the pager's or the ticket system's API is
              down, a credential expired). A ticket, for the reason above: it reaches the receivers
              that still work.
            |||,
            alert: 'AlertmanagerNotificationsFailing',
            placement:: 'shard',
            expr: |||
              sum by (job, instance, integration) (
                rate(alertmanager_notifications_failed_total{%(alertmanagerSelector)s}[5m])
              ) > 0
            ||| % cfg,
            'for': cfg['for'].notificationFailures,
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'Alertmanager {{ $labels.instance }} fails to deliver {{ $labels.integration }} notifications',
              description: 'Alertmanager {{ $labels.instance }} fails {{ $value | humanize }} {{ $labels.integration }} notifications per second. Its log names the receiver and the error.',
            },
          }),
        ],
      },
      {
        name: 'syseng.shards',
        // Only where a global store holds the shards' series (rules/global/).
        shardedOnly:: true,
        comment:: |||
          Alerts of the sharded topology's global view (docs/scaling.md), evaluated by vmalert
          against the global store beside the fleet-wide rules.
        |||,
        rules: [
          alert({
            comment:: |||
              A shard whose targets had samples in the global store during the last hour but none
              for 3 minutes (12 scrapes) has stopped sending: it is down, or its remote_write is.
              Its part of the fleet is unmonitored, and the fleet-wide rules see only the other
              shards' instances (they do not alert on the loss: each of their ratios is over the
              instances they see). The value is how many instances the shard had. The explicit
              [3m] window makes the alert independent of the store's lookback; `for: %(for)s`
              rides over a restart.
            ||| % (cfg { 'for': cfg['for'].shardMissing }),
            alert: 'SysengShardMissing',
            placement:: 'global',
            expr: |||
              count by (%(shardLabel)s) (max_over_time(up{%(serviceSelector)s}[1h]))
              unless on (%(shardLabel)s)
              count by (%(shardLabel)s) (count_over_time(up{%(serviceSelector)s}[3m]))
            ||| % cfg,
            'for': cfg['for'].shardMissing,
            labels: { severity: 'page' },
            annotations: {
              summary: 'Prometheus shard {{ $labels.%(shardLabel)s }} sends no data to the global store' % cfg,
              description: "No sample from shard {{ $labels.%(shardLabel)s }} has reached the global store for 3 minutes: its {{ $value }} instances are not monitored, and the fleet-wide figures and alerts cover only the other shards. Check the shard's process and its remote_write queue." % cfg,
            },
          }),
          alert({
            comment:: |||
              A shard run as identical replicas (docs/scaling.md#high-availability-replicated-shards)
              with fewer of its servers sending than during the last hour, but at least one: its
              instances are still monitored, by the rest, but the next loss is a gap. Each server
              scrapes itself, so the global store has one `up` per server of a shard. The value is
              how many servers the shard had. A ticket: nothing is lost yet. A restart within
              3 minutes does not count; `for: %(for)s` rides over a slow one. Removing a replica
              on purpose needs a silence for an hour. A shard with none left is SysengShardMissing.
            ||| % (cfg { 'for': cfg['for'].shardReplicaMissing }),
            alert: 'SysengShardReplicaMissing',
            placement:: 'global',
            expr: |||
              count by (%(shardLabel)s) (max_over_time(up{%(shardServerSelector)s}[1h]))
              >
              count by (%(shardLabel)s) (count_over_time(up{%(shardServerSelector)s}[3m]))
            ||| % cfg,
            'for': cfg['for'].shardReplicaMissing,
            labels: { severity: 'ticket' },
            annotations: {
              summary: 'Prometheus shard {{ $labels.%(shardLabel)s }} runs without its redundancy' % cfg,
              description: "Fewer of shard {{ $labels.%(shardLabel)s }}'s {{ $value }} Prometheus servers have sent samples to the global store during the last 3 minutes than during the last hour. The shard is still monitored by the others, but losing one more loses its data and alerts. Check the missing replica's process and its remote_write queue." % cfg,
            },
          }),
        ],
      },
    ],
  },
}
