/* Pricing an envelope sample with the cost model's selector, and confirming it with the simulator
 * (envelope_price.h). Both use exactly what the library would run: nsccl_select's family at the
 * variant it priced. */
#include "envelope_price.h"

#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "model/cost.h"
#include "model/select.h"
#include "model/simulate.h"

static const nsccl_coll_t colls[ENV_NCOLLS] = {NSCCL_COLL_ALLGATHER, NSCCL_COLL_ALLREDUCE};

void env_sizes(size_t min, size_t max, env_sizes_t *s) {
  s->nsizes = 0;
  for (size_t b = min; b <= max && s->nsizes < ENV_MAX_SIZES; b *= 2) s->sizes[s->nsizes++] = b;
}

int env_build(const env_overrides_t *o, nsccl_topo_t *t[2]) {
  t[0] = t[1] = NULL;
  for (int side = 0; side < 2; side++)
    if (nsccl_topo_load_overrides(o->preset[side], o->sets[side], o->nsets[side], &t[side]) != nscclSuccess) {
      fprintf(stderr, "nsccl-envelope: %s side %s: %s\n", side ? "switch" : "torus", o->preset[side],
              nsccl_last_error());
      env_free(t);
      return 0;
    }
  return 1;
}

void env_free(nsccl_topo_t *t[2]) {
  for (int side = 0; side < 2; side++) {
    nsccl_topo_free(t[side]);
    t[side] = NULL;
  }
}

static int choose(const nsccl_topo_t *t, nsccl_coll_t coll, size_t bytes, nsccl_choice_t *ch) {
  if (nsccl_select(t, NULL, coll, bytes, t->nranks, ch) == nscclSuccess) return 1;
  fprintf(stderr, "nsccl-envelope: selecting %s on %s at %zu bytes: %s\n", nsccl_coll_name(coll), t->name, bytes,
          nsccl_last_error());
  return 0;
}

/* Keep the size if its ratio beats the peak so far (ties keep the smaller size). */
static void consider(env_peak_t *p, int first, size_t bytes, double tt, double ts, const nsccl_choice_t ch[2]) {
  double r = tt / ts;
  if (!first && !(r > p->peak * (1 + 1e-12))) return;
  p->peak = r;
  p->at = bytes;
  p->torus_us = tt * 1e6;
  p->switch_us = ts * 1e6;
  snprintf(p->talgo, sizeof(p->talgo), "%s", nsccl_model_variant_name(ch[0].algo, ch[0].variant[ch[0].algo]));
  snprintf(p->salgo, sizeof(p->salgo), "%s", nsccl_model_variant_name(ch[1].algo, ch[1].variant[ch[1].algo]));
}

int env_price_model(nsccl_topo_t *const t[2], const env_sizes_t *sz, env_peak_t out[ENV_NCOLLS],
                    double (*ratio)[ENV_MAX_SIZES]) {
  for (int c = 0; c < ENV_NCOLLS; c++) {
    memset(&out[c], 0, sizeof(out[c]));
    for (int i = 0; i < sz->nsizes; i++) {
      nsccl_choice_t ch[2];
      for (int side = 0; side < 2; side++)
        if (!choose(t[side], colls[c], sz->sizes[i], &ch[side])) return 0;
      double tt = ch[0].predicted_s[ch[0].algo], ts = ch[1].predicted_s[ch[1].algo];
      if (ratio) ratio[c][i] = tt / ts;
      consider(&out[c], i == 0, sz->sizes[i], tt, ts, ch);
    }
  }
  return 1;
}

int env_price_sim(nsccl_topo_t *const t[2], const env_sizes_t *sz, const unsigned char (*use)[ENV_MAX_SIZES],
                  env_peak_t out[ENV_NCOLLS], int *simulations) {
  for (int c = 0; c < ENV_NCOLLS; c++) {
    memset(&out[c], 0, sizeof(out[c]));
    int first = 1;
    for (int i = 0; i < sz->nsizes; i++) {
      if (use && !use[c][i]) continue;
      nsccl_choice_t ch[2];
      double time[2];
      for (int side = 0; side < 2; side++) {
        if (!choose(t[side], colls[c], sz->sizes[i], &ch[side])) return 0;
        nsccl_sim_result_t res;
        memset(&res, 0, sizeof(res));
        if (nsccl_sim_collective(t[side], colls[c], ch[side].algo, ch[side].variant[ch[side].algo], sz->sizes[i], NULL,
                                 &res) != nscclSuccess) {
          fprintf(stderr, "nsccl-envelope: simulating %s on %s at %zu bytes: %s\n", nsccl_coll_name(colls[c]),
                  t[side]->name, sz->sizes[i], nsccl_last_error());
          return 0;
        }
        time[side] = res.time_s;
        if (simulations) (*simulations)++;
      }
      consider(&out[c], first, sz->sizes[i], time[0], time[1], ch);
      first = 0;
    }
  }
  return 1;
}
