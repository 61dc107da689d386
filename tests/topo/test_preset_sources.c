/* Every number in a preset cites a row of docs/hardware-facts.md (COMMON rule, issue 13 part 5):
 * each key with a numeric value has, in the comment lines since the previous key, at least one row
 * ID (T2-LINK-XY, DIR-BOTH, ...), and every row ID a preset names is a row of that file. The row IDs
 * are read from the file's tables here, so a misspelt or missing citation fails. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDS 512

static char ids[MAX_IDS][40];
static int nids;

/* A row ID: upper-case letters and digits in two or more parts joined by '-', starting with a letter. */
static int is_id(const char *w) {
  if (!isupper((unsigned char)w[0])) return 0;
  int parts = 1, len = 0;
  for (const char *c = w; *c; c++, len++) {
    if (*c == '-') {
      if (c[1] == '\0' || c[1] == '-' || c == w) return 0;
      parts++;
    } else if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c))
      return 0;
  }
  return parts >= 2 && len < 40;
}

static int known(const char *w) {
  for (int i = 0; i < nids; i++)
    if (!strcmp(ids[i], w)) return 1;
  return 0;
}

/* Row IDs: the first cell of table rows "| ID | ...". */
static void read_facts(void) {
  FILE *f = fopen(FACTS_FILE, "r");
  cr_assert_not_null(f, "cannot open %s", FACTS_FILE);
  char line[4096];
  while (fgets(line, sizeof(line), f)) {
    char id[64];
    if (sscanf(line, "| %63[^ |] |", id) == 1 && is_id(id)) {
      cr_assert(!known(id), "%s: row ID %s appears twice", FACTS_FILE, id);
      cr_assert_lt(nids, MAX_IDS);
      snprintf(ids[nids++], sizeof(ids[0]), "%s", id);
    }
  }
  fclose(f);
  cr_assert_gt(nids, 30, "%s: only %d row IDs", FACTS_FILE, nids);
}

/* The row IDs in a comment line; each must be known. Returns how many. */
static int cited(const char *path, int lineno, const char *text) {
  char buf[512];
  snprintf(buf, sizeof(buf), "%s", text);
  int n = 0;
  for (char *save = NULL, *w = strtok_r(buf, " \t\n,.;:()/\"'", &save); w;
       w = strtok_r(NULL, " \t\n,.;:()/\"'", &save)) {
    if (!is_id(w)) continue;
    cr_assert(known(w), "%s:%d cites %s, which is no row of %s", path, lineno, w, FACTS_FILE);
    n++;
  }
  return n;
}

static int numeric(const char *value) {
  for (const char *c = value; *c; c++)
    if (isdigit((unsigned char)*c)) return 1;
  return 0;
}

/* A preset is paragraphs: comment lines, then the keys they explain, ended by a blank line. Every
 * paragraph holding a key with a number must cite a row. */
static void check_preset(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "cannot open %s", path);
  char line[512];
  int lineno = 0, ids_here = 0, in_keys = 0, keys = 0;
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    const char *c = line;
    while (*c == ' ' || *c == '\t') c++;
    if (*c == '\n' || *c == '\0') { /* a blank line ends the paragraph */
      ids_here = in_keys = 0;
      continue;
    }
    if (*c == '#') {
      if (in_keys) ids_here = in_keys = 0; /* comments after keys start the next paragraph */
      ids_here += cited(path, lineno, c);
      continue;
    }
    const char *eq = strchr(c, '=');
    if (!eq || *c == '[') continue;
    keys++;
    in_keys = 1;
    char key[64];
    cr_assert_eq(sscanf(c, "%63[a-z_.]", key), 1, "%s:%d: no key", path, lineno);
    if (numeric(eq + 1) && strcmp(key, "inner"))
      cr_assert_gt(ids_here, 0, "%s:%d: key '%s' has a number but its paragraph cites no hardware-facts row", path,
                   lineno, key);
  }
  fclose(f);
  cr_assert_gt(keys, 3, "%s: only %d keys", path, keys);
}

Test(preset_sources, every_number_cites_a_row) {
  read_facts();
  DIR *d = opendir(PRESET_DIR);
  cr_assert_not_null(d, "cannot open %s", PRESET_DIR);
  int presets = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".conf")) continue;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", PRESET_DIR, e->d_name);
    check_preset(path);
    presets++;
  }
  closedir(d);
  cr_assert_geq(presets, 8, "only %d presets in %s", presets, PRESET_DIR);
}
