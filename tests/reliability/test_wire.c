/* The bootstrap's wire parsers against hand-built byte strings: every prefix of a good hello is
 * "more", every corruption is refused with a reason, and nothing is trusted from the wire. */
#include <criterion/criterion.h>
#include <string.h>

#include "bootstrap/wire.h"

static const uint8_t secret[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static nsccl_hello_t good(void) {
  nsccl_hello_t h;
  nsccl_wire_make_hello(&h, secret, 2, 4, 1234, "hostid/boot", "node7");
  return h;
}

Test(wire, hello_layout_is_fixed) {
  /* The layout other versions of the library would read: magic, size, version first. */
  nsccl_hello_t h = good();
  uint32_t w[3];
  memcpy(w, &h, sizeof(w));
  cr_assert_eq(w[0], 0x4f4c4548u);
  cr_assert_eq(w[1], 232u);
  cr_assert_eq(w[2], 2u);
  cr_assert_eq(sizeof(nsccl_hello_t), 232u);
}

Test(wire, good_hello_and_every_prefix) {
  nsccl_hello_t h = good(), out;
  char why[160];
  for (size_t len = 0; len < sizeof(h); len++)
    cr_assert_eq(nsccl_wire_parse_hello(&h, len, secret, &out, why, sizeof(why)), NSCCL_WIRE_MORE, "len %zu", len);
  memset(&out, 0, sizeof(out));
  cr_assert_eq(nsccl_wire_parse_hello(&h, sizeof(h), secret, &out, why, sizeof(why)), NSCCL_WIRE_OK);
  cr_assert_eq(out.rank, 2);
  cr_assert_eq(out.nranks, 4);
  cr_assert_eq(out.pid, 1234);
  cr_assert_str_eq(out.hostname, "node7");
  cr_assert_str_eq(out.hostid, "hostid/boot");
}

static nsccl_wire_status_t parse(const nsccl_hello_t *h, size_t len, char *why) {
  nsccl_hello_t out;
  return nsccl_wire_parse_hello(h, len, secret, &out, why, 160);
}

Test(wire, bad_magic_refused_after_four_bytes) {
  nsccl_hello_t h = good();
  char why[160] = "";
  memcpy(&h, "GET ", 4);
  cr_assert_eq(parse(&h, 4, why), NSCCL_WIRE_BAD);
  cr_assert(strstr(why, "magic"), "%s", why);
  cr_assert_eq(parse(&h, 3, why), NSCCL_WIRE_MORE); /* three bytes cannot be judged yet */
}

Test(wire, wrong_declared_size_refused_after_eight_bytes) {
  uint32_t sizes[] = {0, 231, 233, 0x7fffffffu, 0xffffffffu};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    nsccl_hello_t h = good();
    char why[160] = "";
    h.bytes = sizes[i];
    cr_assert_eq(parse(&h, 8, why), NSCCL_WIRE_BAD, "size %u", sizes[i]);
    cr_assert(strstr(why, "declares"), "%s", why);
  }
}

Test(wire, other_version_refused) {
  nsccl_hello_t h = good();
  char why[160] = "";
  h.version = 1;
  cr_assert_eq(parse(&h, 12, why), NSCCL_WIRE_BAD);
  cr_assert(strstr(why, "version"), "%s", why);
}

Test(wire, wrong_secret_refused) {
  for (int byte = 0; byte < 16; byte++) {
    nsccl_hello_t h = good();
    char why[160] = "";
    h.secret[byte] ^= 0x80;
    cr_assert_eq(parse(&h, sizeof(h), why), NSCCL_WIRE_BAD);
    cr_assert(strstr(why, "secret"), "%s", why);
  }
}

Test(wire, ranks_out_of_range_refused) {
  int cases[][2] = {{-1, 4}, {4, 4}, {0, 0}, {0, -3}, {0x7fffffff, 4}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    nsccl_hello_t h = good();
    char why[160] = "";
    h.rank = cases[i][0];
    h.nranks = cases[i][1];
    cr_assert_eq(parse(&h, sizeof(h), why), NSCCL_WIRE_BAD, "rank %d nranks %d", cases[i][0], cases[i][1]);
  }
}

Test(wire, unterminated_strings_refused) {
  nsccl_hello_t h = good();
  char why[160] = "";
  memset(h.hostname, 'a', sizeof(h.hostname));
  cr_assert_eq(parse(&h, sizeof(h), why), NSCCL_WIRE_BAD);
  h = good();
  memset(h.hostid, 'b', sizeof(h.hostid));
  cr_assert_eq(parse(&h, sizeof(h), why), NSCCL_WIRE_BAD);
}

Test(wire, trailing_bytes_refused) {
  char buf[sizeof(nsccl_hello_t) + 1];
  nsccl_hello_t h = good();
  memcpy(buf, &h, sizeof(h));
  buf[sizeof(h)] = 0;
  nsccl_hello_t out;
  cr_assert_eq(nsccl_wire_parse_hello(buf, sizeof(buf), secret, &out, NULL, 0), NSCCL_WIRE_BAD);
}

Test(wire, frames) {
  nsccl_frame_t f = {NSCCL_FRAME_MAGIC, NSCCL_FRAME_DATA, 96}, out;
  char why[160] = "";
  for (size_t len = 0; len < sizeof(f); len++)
    cr_assert_eq(nsccl_wire_parse_frame(&f, len, 96, &out, why, sizeof(why)), NSCCL_WIRE_MORE);
  cr_assert_eq(nsccl_wire_parse_frame(&f, sizeof(f), 96, &out, why, sizeof(why)), NSCCL_WIRE_OK);
  cr_assert_eq(out.bytes, 96);
  /* DATA of another size, oversized included. */
  f.bytes = 1ull << 62;
  cr_assert_eq(nsccl_wire_parse_frame(&f, sizeof(f), 96, &out, why, sizeof(why)), NSCCL_WIRE_BAD);
  /* ERROR reports: 5 .. 4 + max bytes. */
  f.kind = NSCCL_FRAME_ERROR;
  uint64_t ok[] = {5, 4 + NSCCL_WIRE_ERROR_MAX}, bad[] = {0, 4, 5 + NSCCL_WIRE_ERROR_MAX, ~0ull};
  for (int i = 0; i < 2; i++) {
    f.bytes = ok[i];
    cr_assert_eq(nsccl_wire_parse_frame(&f, sizeof(f), 96, &out, why, sizeof(why)), NSCCL_WIRE_OK);
  }
  for (int i = 0; i < 4; i++) {
    f.bytes = bad[i];
    cr_assert_eq(nsccl_wire_parse_frame(&f, sizeof(f), 96, &out, why, sizeof(why)), NSCCL_WIRE_BAD);
  }
  f.kind = 7;
  cr_assert_eq(nsccl_wire_parse_frame(&f, 8, 96, &out, why, sizeof(why)), NSCCL_WIRE_BAD);
  f.kind = NSCCL_FRAME_DATA;
  f.magic = 0;
  cr_assert_eq(nsccl_wire_parse_frame(&f, 4, 96, &out, why, sizeof(why)), NSCCL_WIRE_BAD);
}

Test(wire, error_payload) {
  char buf[64], msg[16];
  nscclResult_t code;
  int32_t c = nscclTimeout;
  memcpy(buf, &c, 4);
  memcpy(buf + 4, "peer\x01gone away for good", 24);
  nsccl_wire_parse_error(buf, 28, &code, msg, sizeof(msg));
  cr_assert_eq(code, nscclTimeout);
  cr_assert_str_eq(msg, "peer?gone away ");
  c = 12345; /* not a result code */
  memcpy(buf, &c, 4);
  nsccl_wire_parse_error(buf, 4, &code, msg, sizeof(msg));
  cr_assert_eq(code, nscclRemoteError);
  cr_assert_str_eq(msg, "");
  c = nscclSuccess; /* an error report cannot say success */
  memcpy(buf, &c, 4);
  nsccl_wire_parse_error(buf, 2, &code, msg, sizeof(msg));
  cr_assert_eq(code, nscclRemoteError);
}

Test(wire, host_table) {
  nsccl_host_entry_t t[5];
  memset(t, 'x', sizeof(t));
  int hosts[] = {0, 0, 1, 0, 2}, nhosts = -1;
  for (int r = 0; r < 5; r++) t[r].host = hosts[r];
  char why[160];
  cr_assert_eq(nsccl_wire_check_host_table(t, 5, &nhosts, why, sizeof(why)), NSCCL_WIRE_OK);
  cr_assert_eq(nhosts, 3);
  cr_assert_eq(t[4].hostname[NSCCL_HOSTNAME_BYTES - 1], '\0');
  int bad[][5] = {{1, 0, 0, 0, 0}, {0, 2, 0, 0, 0}, {0, 0, -1, 0, 0}, {0, 1, 2, 3, 1000000}};
  for (int i = 0; i < 4; i++) {
    for (int r = 0; r < 5; r++) t[r].host = bad[i][r];
    cr_assert_eq(nsccl_wire_check_host_table(t, 5, &nhosts, why, sizeof(why)), NSCCL_WIRE_BAD, "case %d", i);
  }
}
