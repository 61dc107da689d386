# Plot of scripts/sim-scale: CPU seconds, peak RSS and events against ranks, one line per variant,
# log-log. Called with -e "data='FILE.csv'; out='FILE.png'". Simulator speed, not modelled times.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1200,420 enhanced font ",10"
} else {
  set terminal png size 1200,420
}
set output out
set datafile separator ","
set key top left
set logscale xy
set grid
set xlabel "ranks (square torus, 1 MiB all-reduce)"
variants = system("tail -n +2 '" . data . "' | cut -d, -f1 | sort -u | tr '\\n' ' '")
set multiplot layout 1,3 title "nsccl simulator growth (scripts/sim-scale): whole process, 2-vCPU shared VM"
set ylabel "CPU seconds"
plot for [v in variants] data using (strcol(1) eq v ? $3 : NaN):7 with linespoints title v
set ylabel "peak RSS (MiB)"
plot for [v in variants] data using (strcol(1) eq v ? $3 : NaN):($9 / 1024) with linespoints title v
set ylabel "events"
plot for [v in variants] data using (strcol(1) eq v ? $3 : NaN):5 with linespoints title v
unset multiplot
