/* Where preset names are looked up (docs/topologies.md, "Naming a topology"): $NSCCL_PRESET_DIR
 * first, then the source tree's presets for a copy of the library inside its build tree (this test
 * program is one), never the installed directory as well. The expected directories come from meson
 * (SOURCE_PRESETS), not from the library. The installed side is checked by tests/install. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "topologies/topo.h"

Test(preset_search, build_tree_reads_the_source_presets) {
  unsetenv("NSCCL_PRESET_DIR");
  const char *dirs[4] = {0};
  int n = nsccl_topo_preset_dirs(dirs, 4);
  cr_assert_eq(n, 1, "from the build tree one directory is searched, got %d", n);
  cr_assert_str_eq(dirs[0], SOURCE_PRESETS);
}

Test(preset_search, environment_comes_first) {
  setenv("NSCCL_PRESET_DIR", "/nonexistent-presets", 1);
  const char *dirs[4] = {0};
  int n = nsccl_topo_preset_dirs(dirs, 4);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(dirs[0], "/nonexistent-presets");
  cr_assert_str_eq(dirs[1], SOURCE_PRESETS);
  cr_assert_eq(nsccl_topo_preset_dirs(dirs, 1), 1, "max is respected");
  unsetenv("NSCCL_PRESET_DIR");
}

Test(preset_search, file_in_tree) {
  char root[] = "/tmp/nsccl-tree-XXXXXX";
  cr_assert_not_null(mkdtemp(root));
  char inside[PATH_MAX], sub[PATH_MAX], sibling[PATH_MAX], outside[PATH_MAX];
  snprintf(sub, sizeof(sub), "%s/lib", root);
  snprintf(inside, sizeof(inside), "%s/lib/libx.so", root);
  snprintf(sibling, sizeof(sibling), "%sb", root); /* shares the root's name as a prefix */
  snprintf(outside, sizeof(outside), "%s/libx.so", sibling);
  cr_assert_eq(mkdir(sub, 0700), 0);
  cr_assert_eq(mkdir(sibling, 0700), 0);
  FILE *f = fopen(inside, "w");
  cr_assert_not_null(f);
  fclose(f);
  f = fopen(outside, "w");
  cr_assert_not_null(f);
  fclose(f);
  cr_expect_eq(nsccl_topo_file_in_tree(inside, root), 1);
  cr_expect_eq(nsccl_topo_file_in_tree(root, root), 1);
  cr_expect_eq(nsccl_topo_file_in_tree(outside, root), 0, "a sibling directory with the root as prefix is outside");
  char dotted[PATH_MAX];
  snprintf(dotted, sizeof(dotted), "%s/lib/../lib/libx.so", root);
  cr_expect_eq(nsccl_topo_file_in_tree(dotted, root), 1, "paths are resolved before comparing");
  cr_expect_eq(nsccl_topo_file_in_tree("/nonexistent/libx.so", root), 0);
  cr_expect_eq(nsccl_topo_file_in_tree(inside, ""), 0, "no build root compiled in: installed");
  cr_expect_eq(nsccl_topo_file_in_tree(NULL, root), 0);
  unlink(inside);
  unlink(outside);
  rmdir(sub);
  rmdir(sibling);
  rmdir(root);
}
