/* Per-link use of a simulated run, for people ("busiest links" table) and for tools (CSV): how
 * much of the collective's span each link was transmitting and how many bytes it carried. The
 * figures come from the simulator's link observer (observe.c); the busy time is the simulator's own. */
#include <stdlib.h>

#include "model/observe.h"
#include "topologies/topo.h"

typedef struct {
  double busy;
  int link;
} busy_t;

static int busiest_first(const void *a, const void *b) {
  const busy_t *x = a, *y = b;
  if (x->busy != y->busy) return x->busy > y->busy ? -1 : 1;
  return (x->link > y->link) - (x->link < y->link);
}

void nsccl_links_table(FILE *f, const nsccl_topo_t *t, const nsccl_link_use_t *links, double span_s, int top) {
  busy_t *idx = malloc((t->nlinks > 0 ? (size_t)t->nlinks : 1) * sizeof(busy_t));
  if (!idx) {
    fprintf(f, "# links: out of memory\n");
    return;
  }
  int used = 0;
  double total = 0;
  for (int l = 0; l < t->nlinks; l++) {
    idx[l] = (busy_t){links[l].busy_s, l};
    used += links[l].bytes > 0;
    total += links[l].bytes;
  }
  qsort(idx, (size_t)t->nlinks, sizeof(busy_t), busiest_first);
  int rows = top > 0 && top < t->nlinks ? top : t->nlinks;
  fprintf(f, "# links: %d of %d carried bytes (%.0f bytes in all); span %.3f us; busiest %d (MODELLED)\n", used,
          t->nlinks, total, span_s * 1e6, rows);
  fprintf(f, "%6s  %-14s %-14s %8s %14s %12s\n", "link", "from", "to", "busy%", "bytes", "busy_us");
  char a[40], b[40];
  for (int i = 0; i < rows; i++) {
    int k = idx[i].link;
    const nsccl_link_t *l = &t->links[k];
    nsccl_topo_vertex_name(t, l->src, a, sizeof(a));
    nsccl_topo_vertex_name(t, l->dst, b, sizeof(b));
    double share = span_s > 0 ? links[k].busy_s / span_s : 0;
    fprintf(f, "%6d  %-14s %-14s %7.2f%% %14.0f %12.3f\n", k, a, b, 100 * share, links[k].bytes, links[k].busy_s * 1e6);
  }
  free(idx);
}

void nsccl_links_csv(FILE *f, const char *prefix, const nsccl_topo_t *t, const nsccl_link_use_t *links, double span_s) {
  char a[40], b[40];
  for (int i = 0; i < t->nlinks; i++) {
    nsccl_topo_vertex_name(t, t->links[i].src, a, sizeof(a));
    nsccl_topo_vertex_name(t, t->links[i].dst, b, sizeof(b));
    fprintf(f, "%s%s%d,%s,%s,%.0f,%.6f,%.6f,%.6f\n", prefix, *prefix ? "," : "", i, a, b, links[i].bytes,
            links[i].busy_s * 1e6, span_s * 1e6, span_s > 0 ? links[i].busy_s / span_s : 0.0);
  }
}
