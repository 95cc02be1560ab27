# Plots a soak CSV (bench/soak.sh): throughput and failures on the left axis, the exporter's
# resident memory on the right.
# usage: gnuplot -e "csv='docs/soak/soak.csv'; png='docs/soak/soak.png'; title='...'" bench/soak.gnuplot
set terminal pngcairo size 1000,520 font "sans,10" noenhanced
set output png
set datafile separator ","
set title title
set xlabel "elapsed (s)"
set ylabel "requests per second"
set y2label "resident memory (MiB)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom right
plot csv every ::1 using 1:2 with lines lw 2 title "throughput (left)", \
     csv every ::1 using 1:($5/1024) axes x1y2 with lines lw 2 title "exporter RSS (right)", \
     csv every ::1 using 1:3 with points pt 7 title "failed requests (left)"
