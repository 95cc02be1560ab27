# Cost of the sharded topology against fleet size (docs/scaling.md). Run by scale/plot.py, which
# writes the data file from scale/results/*.json and passes its path as `data`.
# Columns: instances, CPU (share of one core) of the exporter, of the shards together,
# VictoriaMetrics, vmalert, the simulator, their sum (Alertmanager, idle, is left out); then resident MiB in the same order.
# `ha`, if given, holds runs with every shard an identical pair, and `single` the one-server runs
# measured beside them, in the same columns: drawn as points.
ha_cpu = exists("ha") && exists("single") ? sprintf(", '%s' using 1:($7*100) with points pt 7 ps 1.6 title 'all, every shard a pair (HA)', '%s' using 1:($7*100) with points pt 6 ps 1.6 title 'all, one server per shard (same runs)'", ha, single) : ""
ha_rss = exists("ha") && exists("single") ? sprintf(", '%s' using 1:13 with points pt 7 ps 1.6 title 'all, every shard a pair (HA)', '%s' using 1:13 with points pt 6 ps 1.6 title 'all, one server per shard (same runs)'", ha, single) : ""
set terminal pngcairo size 1200,560 font "sans,10"
set output out
set multiplot layout 1,2 title "Sharded monitoring: 2 Prometheus shards + VictoriaMetrics, 15 s scrapes, measured on 2 cores"
set key below maxrows 3
set grid
set xlabel "instances"
set xrange [0:*]
set yrange [0:*]
set ylabel "CPU (% of one core)"
plot data using 1:($7*100) with linespoints lw 2 title "all of these", \
     data using 1:($3*100) with linespoints title "Prometheus shards (2)", \
     data using 1:($4*100) with linespoints title "VictoriaMetrics", \
     data using 1:($2*100) with linespoints title "exporter (1)", \
     data using 1:($5*100) with linespoints title "vmalert", \
     data using 1:($6*100) with linespoints title "simulator" @ha_cpu
set ylabel "resident memory (MiB)"
plot data using 1:13 with linespoints lw 2 title "all of these", \
     data using 1:9 with linespoints title "Prometheus shards (2)", \
     data using 1:10 with linespoints title "VictoriaMetrics", \
     data using 1:8 with linespoints title "exporter (1)", \
     data using 1:11 with linespoints title "vmalert", \
     data using 1:12 with linespoints title "simulator" @ha_rss
unset multiplot
