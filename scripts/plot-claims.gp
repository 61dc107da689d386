# Plots of scripts/reproduce-claims (gnuplot). Called with -e to set:
#   mode    "latency": time vs size of one collective on both sides  (data, out, title, tname, sname)
#           "ratio":   torus/switch ratio vs size, both collectives    (ag, ar, out, title)
#           "sens":    ratio vs size of one collective, one line per sensitivity case
#                      (files, labels: space-separated lists; out, title, claim)
#           "envelope": all-gather peak vs all-reduce peak, one point per envelope sample, the claim
#                      box drawn, simulator-confirmed samples marked (data = nsccl-envelope CSV; out, title)
# Data files are nsccl-claims CSV rows of one collective, without the header:
#   1 collective, 2 bytes, 3 torus_us, 4 torus_algo, 5 switch_us, 6 switch_algo, 7 ratio, 8 best_ratio,
#   9-11 torus ring/tree/direct us, 12-14 switch ring/tree/direct us ("nan" = not simulated).
# All times are MODELLED (simulated), which every title says.

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 960,620 enhanced font ",10"
} else {
  set terminal png size 960,620
}
set output out
set datafile separator ","
set datafile missing "nan"

if (mode eq "envelope") {
  # nsccl-envelope CSV, header on the first line: kind (sample | likeliest), id, the facts, then
  # ag_peak, ..., ar_peak, ..., in_ag6, in_ar2, confirmed, sim_ag_peak, sim_ag_at, sim_ar_peak, sim_ar_at
  set datafile columnheaders
  set title title . "\nMODELLED: cost model (selector) per sample; confirmed samples re-timed by the simulator"
  set xlabel "all-gather peak: torus time / switch time"
  set ylabel "all-reduce peak: torus time / switch time"
  set grid
  set key outside right top box
  set object 1 rect from first 4.5, first 1.5 to graph 1, first 2.5 fc rgb "#f5b7b1" fs transparent solid 0.35 border lc rgb "#c0392b" back
  set label 1 "claim box: all-gather >= 4.5x, all-reduce 1.5-2.5x" at first 4.6, first 2.55 left tc rgb "#c0392b" front
  set xrange [0:*]
  set yrange [0:*]
  set offsets graph 0, graph 0.05, graph 0.05, graph 0
  issample(k) = (strcol("kind") eq k)
  plot data using (issample("sample") ? column("ag_peak") : NaN):"ar_peak" with points pt 7 ps 0.5 lc rgb "#85929e" title "sample (model)", \
       data using (column("confirmed") > 0 ? column("ag_peak") : NaN):"ar_peak":(column("sim_ag_peak") - column("ag_peak")):(column("sim_ar_peak") - column("ar_peak")) \
            with vectors nohead dt 2 lc rgb "#2471a3" title "model -> simulator", \
       data using (issample("sample") && column("confirmed") > 0 ? column("sim_ag_peak") : NaN):"sim_ar_peak" with points pt 6 ps 1.3 lw 2 lc rgb "#2471a3" title "confirmed (simulator)", \
       data using (issample("likeliest") ? column("ag_peak") : NaN):"ar_peak" with points pt 3 ps 2.5 lw 2 lc rgb "#117a65" title "likeliest reading (model)", \
       data using (issample("likeliest") ? column("sim_ag_peak") : NaN):"sim_ar_peak" with points pt 8 ps 2.2 lw 2 lc rgb "#117a65" title "likeliest reading (simulator)", \
       "+" using (6):(2) every ::0::0 with points pt 2 ps 3 lw 3 lc rgb "#c0392b" title "claim: 6x / 2x"
  exit
}

set logscale x 2
set xtics ("8" 8, "64" 64, "512" 512, "4K" 4096, "32K" 32768, "256K" 262144, "2M" 2097152, "16M" 16777216, \
           "128M" 134217728, "1G" 1073741824)
set xlabel "bytes (nccl-tests convention: all-gather output, all-reduce vector)"
set grid xtics ytics mytics
set key top left box opaque

if (mode eq "latency") {
  set logscale y 10
  set ylabel "simulated time (us)"
  set title title . "\nMODELLED: discrete-event simulation of nsccl's schedules, not measurements"
  plot data using 2:3 with linespoints lw 2 pt 7 ps 0.6 lc rgb "#c0392b" title tname . " (selected algorithm)", \
       data using 2:5 with linespoints lw 2 pt 5 ps 0.6 lc rgb "#2471a3" title sname . " (selected algorithm)", \
       data using 2:9  with lines dt 2 lc rgb "#d98880" title tname . " ring", \
       data using 2:10 with lines dt 3 lc rgb "#d98880" title tname . " tree", \
       data using 2:11 with lines dt 4 lc rgb "#d98880" title tname . " direct", \
       data using 2:12 with lines dt 2 lc rgb "#7fb3d5" title sname . " ring", \
       data using 2:13 with lines dt 3 lc rgb "#7fb3d5" title sname . " tree", \
       data using 2:14 with lines dt 4 lc rgb "#7fb3d5" title sname . " direct"
}

if (mode eq "ratio") {
  set ylabel "torus time / switch time"
  set yrange [0:*]
  set offsets graph 0, graph 0, graph 0.08, graph 0
  set title title . "\nMODELLED: discrete-event simulation of nsccl's schedules, not measurements"
  plot ag using 2:7 with linespoints lw 2 pt 7 ps 0.6 lc rgb "#117a65" title "all-gather, selected algorithms", \
       ar using 2:7 with linespoints lw 2 pt 5 ps 0.6 lc rgb "#7d3c98" title "all-reduce, selected algorithms", \
       ag using 2:8 with lines dt 2 lc rgb "#117a65" title "all-gather, best family each side", \
       ar using 2:8 with lines dt 2 lc rgb "#7d3c98" title "all-reduce, best family each side", \
       6 with lines lw 2 dt 1 lc rgb "#117a65" title "claim: all-gather up to 6x", \
       2 with lines lw 2 dt 1 lc rgb "#7d3c98" title "claim: all-reduce up to 2x", \
       1 with lines lw 1 lc rgb "#555555" notitle
}

if (mode eq "sens") {
  set ylabel "torus time / switch time (selected algorithms)"
  set yrange [0:*]
  set offsets graph 0, graph 0, graph 0.08, graph 0
  set key outside right top box
  colors = "#000000 #9400d3 #009e73 #56b4e9 #e69f00 #c9b800 #0072b2 #e51e10 #8b4513 #ff69b4 #808000 #00ced1 #2f4f4f #ff4500 #7b68ee #228b22"
  set title title . "\nMODELLED: discrete-event simulation of nsccl's schedules, not measurements"
  plot for [i=1:words(files)] word(files, i) using 2:7 with lines lw (i == 1 ? 3 : 1.5) dt 1 + (i > 8) \
         lc rgb word(colors, 1 + (i - 1) % words(colors)) title word(labels, i), \
       claim + 0 with lines lw 3 lc rgb "#c0392b" dt 3 title sprintf("claim: %gx", claim + 0), \
       1 with lines lw 1 lc rgb "#555555" notitle
}
