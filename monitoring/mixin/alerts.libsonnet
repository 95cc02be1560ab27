// Alerting rules of the kit (rendered to monitoring/rules/alerts.yml).
{
  local cfg = $._config { errorBudget: '(1 - %s)' % $._config.sloTarget },
  local runbook(anchor) = 'docs/operations.md#' + anchor,
  alertsHeader:: |||
  Alerting rules of the syseng monitoring kit. Each alert carries:
    labels.severity          page (a human acts now, day or night) or ticket (next working day)
    annotations.summary      one line for the notification title
    annotations.description  what is wrong, with the value, and where to look first
    annotations.runbook_url  the alert's section in docs/operations.md (the anchor is the
                             alert name in lower case)
  Every threshold and `for:` is explained next to it; docs/operations.md explains the choices
  in more depth. The SLO: 99.5% of requests answered non-5xx over 30 days, so the error budget
  is a 5xx ratio of (1 - 0.995) = 0.005. Healthy fleets answer about 0.1% 5xx and 25-60 ms.
|||,
  prometheusAlerts+:: {
    groups+: [
      {
        name: 'syseng.slo',
        rules: [
          {
            comment:: |||
              Multiwindow, multi-burn-rate (SRE workbook): page when 2% of the 30-day budget burns in
              1 hour (14.4x) or 5% in 6 hours (6x). The long window makes the alert significant; the
              short one (1/12 of it) makes it stop soon after the errors stop. `for: 2m` rides over a
              single odd evaluation; the windows already do the real smoothing.
            |||,
            alert: 'SysengErrorBudgetBurnFast',
            placement:: 'global',
            expr: |||
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
            ||| % cfg,
            'for': '2m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: '{{ $labels.job }} is burning its error budget fast',
              description: '{{ $value | humanizePercentage }} of {{ $labels.job }} requests failed with 5xx (SLO 99.5%: at this rate the 30-day error budget lasts less than 5 days). Check the error ratio per zone and the top instances by error ratio.',
              runbook_url: runbook('sysengerrorbudgetburnfast'),
            },
          },
          {
            comment:: |||
              Ticket when 10% of the budget burns in 3 days (1x) or in 1 day (3x): the budget would be
              gone before the 30 days end, but there is time to fix it in working hours.
            |||,
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
            'for': '15m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: '{{ $labels.job }} is burning its error budget slowly',
              description: '{{ $value | humanizePercentage }} of {{ $labels.job }} requests failed with 5xx over the last days (SLO 99.5%): the 30-day error budget will run out if this continues.',
              runbook_url: runbook('sysengerrorbudgetburnslow'),
            },
          },
        ],
      },
      {
        name: 'syseng.latency',
        rules: [
          {
            comment:: |||
              Mean latency over 250 ms (4-10x the healthy 25-60 ms) for 10 minutes: users of the whole
              job wait noticeably. 10 minutes keeps a short GC or deploy spike from paging.
            |||,
            alert: 'SysengLatencyHigh',
            placement:: 'global',
            expr: 'job:syseng_http_request_duration_seconds:mean5m > 0.25' % cfg,
            'for': '10m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: '{{ $labels.job }} mean latency is above 250ms',
              description: 'Requests to {{ $labels.job }} take {{ $value | humanizeDuration }} on average over 5 minutes (target: below 250ms). Check latency per zone and per instance.',
              runbook_url: runbook('sysenglatencyhigh'),
            },
          },
          {
            comment:: |||
              One slow instance hurts only its share of requests: a ticket, after 15 minutes.
            |||,
            alert: 'SysengInstanceLatencyHigh',
            placement:: 'shard',
            expr: 'instance:syseng_http_request_duration_seconds:mean5m > 0.25' % cfg,
            'for': '15m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: '{{ $labels.instance }} mean latency is above 250ms',
              description: 'Requests to {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.zone }}) take {{ $value | humanizeDuration }} on average over 5 minutes (target: below 250ms).',
              runbook_url: runbook('sysenginstancelatencyhigh'),
            },
          },
        ],
      },
      {
        name: 'syseng.errors',
        rules: [
          {
            comment:: |||
              One instance answering over 5% 5xx (10x the budget ratio, 50x a healthy instance) for
              15 minutes. The rate guard (above 0.1 request/s, 30 requests in 5 minutes) keeps a
              nearly idle instance from alerting on one failed request.
            |||,
            alert: 'SysengInstanceErrorsHigh',
            placement:: 'shard',
            expr: |||
              instance:syseng_http_requests_errors:ratio_rate5m > 0.05
              and
              instance:syseng_http_requests:rate5m > 0.1
            ||| % cfg,
            'for': '15m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: '{{ $labels.instance }} answers more than 5% errors',
              description: '{{ $value | humanizePercentage }} of the requests to {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.zone }}) failed with 5xx over 5 minutes.',
              runbook_url: runbook('sysenginstanceerrorshigh'),
            },
          },
        ],
      },
      {
        name: 'syseng.availability',
        rules: [
          {
            comment:: |||
              More than 10% of a job's instances without valid stats for 5 minutes: a capacity loss
              that rolling deploys (a few percent at a time) do not cause, and a whole zone (a third
              of the fleet) certainly does. At least 2 instances, so that one instance never pages,
              whatever the fleet size (that is SysengInstanceDown's ticket).
            |||,
            alert: 'SysengFleetInstancesDown',
            placement:: 'global',
            expr: |||
              (1 - job:syseng_up:ratio) > 0.10
              and
              (job:up:count - job:syseng_up:sum) >= 2
            ||| % cfg,
            'for': '5m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: '{{ $value | humanizePercentage }} of {{ $labels.job }} instances are down',
              description: '{{ $value | humanizePercentage }} of the {{ $labels.job }} targets give no valid stats (limit: 10%). Check which zones are affected (job_zone:syseng_up:ratio) and whether the exporter is up (SysengExporterDown).',
              runbook_url: runbook('sysengfleetinstancesdown'),
            },
          },
          {
            comment:: |||
              Prometheus cannot scrape the target at all. Sidecar: the pod (service and exporter) is
              gone or unreachable. Multi-target: the exporter failed this probe. 5 minutes (20 scrapes)
              rides over a restart.
            |||,
            alert: 'SysengInstanceDown',
            placement:: 'shard',
            expr: 'up{%(serviceSelector)s} == 0' % cfg,
            'for': '5m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: '{{ $labels.instance }} cannot be scraped',
              description: 'Prometheus has failed to scrape {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.zone }}) for 5 minutes.',
              runbook_url: runbook('sysenginstancedown'),
            },
          },
          {
            comment:: |||
              The exporter answers but reports syseng_up 0: the instance's /stats refuses connections,
              hangs past the timeout, answers an HTTP error or a broken document. In the multi-target
              style this is also how a stopped instance looks.
            |||,
            alert: 'SysengExporterCannotReadInstance',
            placement:: 'shard',
            expr: 'syseng_up{%(serviceSelector)s} == 0 and on (job, instance) up{%(serviceSelector)s} == 1' % cfg,
            'for': '5m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: 'The exporter cannot read {{ $labels.instance }}',
              description: 'The exporter is up but has not read valid /stats from {{ $labels.instance }} ({{ $labels.job }}, {{ $labels.zone }}) for 5 minutes. The exporter\'s landing page lists the reason of each recent scrape.',
              runbook_url: runbook('sysengexportercannotreadinstance'),
            },
          },
          {
            comment:: |||
              No syseng target at all: discovery broke, the relabelling drops everything, or the whole
              deployment is gone. Every other alert is blind then, so it pages; 10 minutes lets a
              discovery refresh or a redeploy settle.
            |||,
            alert: 'SysengTargetsAbsent',
            placement:: 'shard',
            expr: 'absent(up{%(serviceSelector)s})' % cfg,
            'for': '10m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: 'Prometheus has no syseng targets',
              description: 'No target of job syseng has existed for 10 minutes: service discovery or the deployment is broken, and no other syseng alert can fire.',
              runbook_url: runbook('sysengtargetsabsent'),
            },
          },
          {
            comment:: |||
              The multi-target exporter itself (job syseng_exporter). In the sidecar style the
              exporter's metrics come with the service's, and SysengInstanceDown covers it.
            |||,
            alert: 'SysengExporterDown',
            placement:: 'shard',
            expr: 'up{%(exporterSelector)s} == 0' % cfg,
            'for': '5m',
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: 'Exporter {{ $labels.instance }} is down',
              description: 'Prometheus has failed to scrape the exporter {{ $labels.instance }} for 5 minutes. Every instance it probes is unreadable while it is down.',
              runbook_url: runbook('sysengexporterdown'),
            },
          },
        ],
      },
      {
        name: 'syseng.stability',
        rules: [
          {
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
            labels: {
              severity: 'ticket',
            },
            annotations: {
              summary: '{{ $labels.instance }} is restarting repeatedly',
              description: '{{ $labels.instance }} ({{ $labels.job }}, {{ $labels.zone }}) restarted {{ $value }} times in 30 minutes.',
              runbook_url: runbook('sysenginstancerestarting'),
            },
          },
          {
            comment:: |||
              A zone's traffic below 10% of what it was an hour ago for 10 minutes, while it had at
              least 1 request/s then. Instances look healthy in this case (they just get no
              requests), so nothing else alerts: the load balancer, DNS or a client is broken.
            |||,
            alert: 'SysengTrafficDrop',
            placement:: 'global',
            expr: |||
              job_zone:syseng_http_requests:rate5m / (job_zone:syseng_http_requests:rate5m offset 1h) < 0.1
              and
              (job_zone:syseng_http_requests:rate5m offset 1h) > 1
            ||| % cfg,
            'for': '10m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: 'Traffic to {{ $labels.job }} in {{ $labels.zone }} dropped to near zero',
              description: '{{ $labels.job }} in {{ $labels.zone }} receives {{ $value | humanizePercentage }} of the requests it received an hour ago.',
              runbook_url: runbook('sysengtrafficdrop'),
            },
          },
        ],
      },
      {
        name: 'syseng.shards',
        // Only where a global store holds the shards' series (rules/global/).
        shardedOnly:: true,
        comment:: |||
          Alerts of the sharded topology's global view (docs/scaling.md), evaluated by vmalert against
          the global store beside the fleet-wide rules.
        |||,
        rules: [
          {
            comment:: |||
              A shard whose targets had samples in the global store during the last hour but none for
              3 minutes (12 scrapes) has stopped sending: it is down, or its remote_write is. Its part
              of the fleet is unmonitored, and the fleet-wide rules see only the other shards' instances
              (they do not alert on the loss: each of their ratios is over the instances they see).
              The value is how many instances the shard had. The explicit [3m] window makes the alert
              independent of the store's lookback; `for: 2m` rides over a restart.
            |||,
            alert: 'SysengShardMissing',
            placement:: 'global',
            expr: |||
              count by (%(shardLabel)s) (max_over_time(up{%(serviceSelector)s}[1h]))
              unless on (%(shardLabel)s)
              count by (%(shardLabel)s) (count_over_time(up{%(serviceSelector)s}[3m]))
            ||| % cfg,
            'for': '2m',
            labels: {
              severity: 'page',
            },
            annotations: {
              summary: 'Prometheus shard {{ $labels.%(shardLabel)s }} sends no data to the global store' % cfg,
              description: 'No sample from shard {{ $labels.%(shardLabel)s }} has reached the global store for 3 minutes: its {{ $value }} instances are not monitored, and the fleet-wide figures and alerts cover only the other shards. Check the shard\'s process and its remote_write queue.' % cfg,
              runbook_url: runbook('sysengshardmissing'),
            },
          },
        ],
      },
    ],
  },
}
