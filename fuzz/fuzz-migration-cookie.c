/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the migration cookie parser (service/migration/migration-cookie.c):
 * the input is what another host (or a client in the middle) could send as a cookie. It
 * is parsed; a refused input must give InvalidArgument with a message. An accepted cookie
 * must be self-consistent (normalised UUIDs, ports in range), format, parse again to the
 * same values and format to the same bytes; the times are computed from it against
 * several clocks. The input also goes through vb_migration_cookie_set_persistent(), whose
 * kept <domain> must be a piece of the input. Crashes, leaks, sanitizer reports, GLib
 * warnings and criticals (fuzz-log.h) and failed checks abort.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "fuzz-log.h"
#include "migration-cookie.h"
#include "vb-error.h"

#define NOW G_GINT64_CONSTANT(1700000000000)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    xmlInitParser();
    vb_fuzz_log_install();
    return 0;
}

static void
check(gboolean ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check failed: %s\n", what);
        abort();
    }
}

static gboolean
uuid_ok(const char *u)
{
    if (strlen(u) != 36)
        return FALSE;
    for (guint i = 0; i < 36; i++) {
        gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? u[i] != '-' : !(g_ascii_isdigit(u[i]) || (u[i] >= 'a' && u[i] <= 'f')))
            return FALSE;
    }
    return TRUE;
}

static void
check_cookie(const VbMigrationCookie *c)
{
    check(c->name != NULL && c->name[0] != '\0', "name");
    check(c->hostname != NULL && c->hostname[0] != '\0', "hostname");
    check(uuid_ok(c->uuid) && uuid_ok(c->host_uuid), "normalised uuids");
    check(c->graphics_port == -1 || (c->graphics_port >= 1 && c->graphics_port <= 65535),
          "graphics port");
    check(c->graphics_tls_port == -1 ||
              (c->graphics_tls_port >= 1 && c->graphics_tls_port <= 65535),
          "tls port");
    check(c->nbd_port == -1 || (c->nbd_port >= 1 && c->nbd_port <= 65535), "nbd port");
    check(((c->features & VB_MIGRATION_COOKIE_GRAPHICS) != 0) == (c->graphics_type != NULL),
          "graphics feature");
    check(((c->features & VB_MIGRATION_COOKIE_PERSISTENT) != 0) == (c->persistent_xml != NULL),
          "persistent feature");
    check(c->started >= 0 && c->started <= VB_MIGRATION_COOKIE_MAX_TIME && c->stopped >= 0 &&
              c->stopped <= VB_MIGRATION_COOKIE_MAX_TIME && c->sent >= 0 &&
              c->sent <= VB_MIGRATION_COOKIE_MAX_TIME,
          "timestamps in range");
}

static void
check_same(const VbMigrationCookie *a, const VbMigrationCookie *b)
{
    guint na = a->nbd_disks != NULL ? a->nbd_disks->len : 0;
    guint nb = b->nbd_disks != NULL ? b->nbd_disks->len : 0;

    check(strcmp(a->name, b->name) == 0 && strcmp(a->hostname, b->hostname) == 0 &&
              strcmp(a->uuid, b->uuid) == 0 && strcmp(a->host_uuid, b->host_uuid) == 0,
          "identity survives the round trip");
    check(a->features == b->features, "features survive");
    check(g_strcmp0(a->graphics_type, b->graphics_type) == 0 &&
              a->graphics_port == b->graphics_port &&
              a->graphics_tls_port == b->graphics_tls_port &&
              g_strcmp0(a->graphics_listen, b->graphics_listen) == 0,
          "graphics survive");
    check(a->nbd_port == b->nbd_port && g_strcmp0(a->nbd_host, b->nbd_host) == 0 && na == nb,
          "nbd survives");
    for (guint i = 0; i < na; i++) {
        VbMigrationCookieDisk *da = &g_array_index(a->nbd_disks, VbMigrationCookieDisk, i);
        VbMigrationCookieDisk *db = &g_array_index(b->nbd_disks, VbMigrationCookieDisk, i);

        check(strcmp(da->target, db->target) == 0 && da->capacity == db->capacity,
              "disk survives");
    }
    check(a->started == b->started && a->stopped == b->stopped &&
              a->total_ms == b->total_ms && a->downtime_ms == b->downtime_ms &&
              a->data_total == b->data_total && a->data_processed == b->data_processed &&
              a->memory_bps == b->memory_bps,
          "statistics survive");
    check(g_strcmp0(a->persistent_xml, b->persistent_xml) == 0, "persistent XML survives");
}

static void
check_times(VbMigrationCookie *c)
{
    static const gint64 finished[] = { 0, 1, NOW, VB_MIGRATION_COOKIE_MAX_TIME, G_MAXINT64,
                                       -1 };

    for (guint i = 0; i < G_N_ELEMENTS(finished); i++) {
        guint64 total, downtime;
        gboolean estimated;

        vb_migration_cookie_times(c, finished[i], &total, &downtime, &estimated);
        check(total >= c->total_ms && downtime >= c->downtime_ms, "times below QEMU's");
    }
}

static void
round_trip(VbMigrationCookie *c)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) out1 = vb_migration_cookie_format_at(c, NOW);
    g_autoptr(GBytes) out2 = NULL;
    g_autoptr(VbMigrationCookie) c2 = NULL;

    check(out1 != NULL, "format");
    c2 = vb_migration_cookie_parse_at(g_bytes_get_data(out1, NULL), g_bytes_get_size(out1),
                                      NOW, &error);
    if (c2 == NULL) {
        fprintf(stderr, "formatted cookie does not parse: %s\n---\n%.*s---\n", error->message,
                (int)g_bytes_get_size(out1), (const char *)g_bytes_get_data(out1, NULL));
        abort();
    }
    check_same(c, c2);
    out2 = vb_migration_cookie_format_at(c2, NOW);
    check(g_bytes_equal(out1, out2), "second format differs");
}

static void
try_persistent(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);
    g_autoptr(VbMigrationCookie) c = vb_migration_cookie_new();
    g_autoptr(GError) error = NULL;

    if (strlen(xml) != size)
        return;
    if (!vb_migration_cookie_set_persistent(c, xml, &error)) {
        check(error != NULL && error->domain == VB_ERROR && error->code == VB_ERROR_INVALID_ARG,
              "set_persistent error");
        check(c->persistent_xml == NULL && c->features == 0, "nothing set on error");
        return;
    }
    check(g_str_has_prefix(c->persistent_xml, "<domain") &&
              g_str_has_suffix(c->persistent_xml, ">") && strstr(xml, c->persistent_xml) != NULL,
          "persistent XML is the input's <domain>");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbMigrationCookie) c = NULL;

    c = vb_migration_cookie_parse_at(data, size, NOW, &error);
    if (c == NULL) {
        check(error != NULL && error->domain == VB_ERROR &&
                  error->code == VB_ERROR_INVALID_ARG && error->message[0] != '\0',
              "error on refusal");
    } else {
        check(error == NULL, "error set on success");
        check_cookie(c);
        check_times(c);
        vb_migration_cookie_check(c, "00000000-0000-0000-0000-000000000001", c->uuid, NULL);
        round_trip(c);
    }
    try_persistent(data, size);
    return 0;
}
