/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reads a built QEMU argv back as QEMU 7.2 does (see argv-check.h). The table lists every
 * option the builder writes and how QEMU reads its value:
 *  - FLAG: no value;
 *  - PLAIN: the value is taken whole (a path, the kernel command line);
 *  - OPTS: QemuOpts "key=value,key=value" with ',,' for a literal comma, and for some an
 *    implied first key ("-name foo" is "-name guest=foo"); the keys allowed are listed;
 *  - JSON: a JSON object (-device, -blockdev, -netdev, -object with QEMU 7.2).
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "argv-check.h"
#include "vb-error.h"

typedef enum { OPT_FLAG, OPT_PLAIN, OPT_OPTS, OPT_JSON } OptKind;

typedef struct {
    const char *name;
    OptKind kind;
    const char *implied;     /* OPTS: key of a first part without '=' */
    const char *keys;        /* OPTS: allowed keys, space separated */
} OptSpec;

static const OptSpec specs[] = {
    { "-S", OPT_FLAG, NULL, NULL },
    { "-no-user-config", OPT_FLAG, NULL, NULL },
    { "-nodefaults", OPT_FLAG, NULL, NULL },
    { "-no-shutdown", OPT_FLAG, NULL, NULL },
    { "-no-reboot", OPT_FLAG, NULL, NULL },
    { "-bios", OPT_PLAIN, NULL, NULL },
    { "-kernel", OPT_PLAIN, NULL, NULL },
    { "-initrd", OPT_PLAIN, NULL, NULL },
    { "-append", OPT_PLAIN, NULL, NULL },
    { "-pidfile", OPT_PLAIN, NULL, NULL },
    { "-uuid", OPT_PLAIN, NULL, NULL },
    { "-watchdog-action", OPT_PLAIN, NULL, NULL },
    { "-incoming", OPT_PLAIN, NULL, NULL },
    /* "driver.property=value": one property, QEMU does not split it at commas */
    { "-global", OPT_PLAIN, NULL, NULL },
    { "-name", OPT_OPTS, "guest", "guest debug-threads" },
    { "-machine", OPT_OPTS, "type",
      "type usb vmport hpet dump-guest-core mem-merge acpi smm memory-backend pflash0 pflash1 "
      "pcspk-audiodev" },
    { "-accel", OPT_OPTS, "accel", "accel" },
    { "-sandbox", OPT_OPTS, "enable",
      "enable obsolete elevateprivileges spawn resourcecontrol" },
    /* "*": CPU properties (features =on/=off, vendor, migratable, enforce) */
    { "-cpu", OPT_OPTS, "model", "model *" },
    { "-m", OPT_OPTS, "size", "size slots maxmem" },
    { "-overcommit", OPT_OPTS, NULL, "mem-lock" },
    { "-smp", OPT_OPTS, "cpus", "cpus maxcpus sockets dies cores threads" },
    /* "+": the key may repeat (one cpus= per range) */
    { "-numa", OPT_OPTS, "type", "type nodeid cpus+ memdev src dst val" },
    { "-chardev", OPT_OPTS, "backend",
      "backend id path server wait append name host port telnet localaddr localport "
      "clipboard mouse" },
    { "-tpmdev", OPT_OPTS, "type", "type id chardev path cancel-path" },
    { "-fsdev", OPT_OPTS, "fsdriver",
      "fsdriver id path security_model writeout readonly fmode dmode multidevs" },
    { "-mon", OPT_OPTS, NULL, "chardev id mode" },
    { "-rtc", OPT_OPTS, NULL, "base driftfix" },
    { "-boot", OPT_OPTS, "order", "strict" },
    { "-vnc", OPT_OPTS, "vnc",
      "vnc password websocket share power-control audiodev" },
    { "-spice", OPT_OPTS, NULL,
      "port addr unix disable-ticketing image-compression seamless-migration agent-mouse "
      "plaintext-channel jpeg-wan-compression zlib-glz-wan-compression "
      "playback-compression streaming-video disable-copy-paste disable-agent-file-xfer" },
    { "-display", OPT_OPTS, "type", "type rendernode" },
    /* a keymap name, taken whole */
    { "-k", OPT_PLAIN, NULL, NULL },
    { "-msg", OPT_OPTS, NULL, "timestamp" },
    { "-device", OPT_JSON, NULL, NULL },
    { "-audiodev", OPT_JSON, NULL, NULL },
    { "-blockdev", OPT_JSON, NULL, NULL },
    { "-netdev", OPT_JSON, NULL, NULL },
    { "-object", OPT_JSON, NULL, NULL },
};

/* QemuOpts' get_opt_value(): up to a single ',', with ',,' read as ',' */
static const char *
read_value(const char *p, GString *out)
{
    for (; *p != '\0'; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++;
        }
        g_string_append_c(out, *p);
    }
    return p;
}

GPtrArray *
test_qemu_opts_split(const char *str, const char *implied)
{
    GPtrArray *kv = g_ptr_array_new_with_free_func(g_free);
    const char *p = str;
    gboolean first = TRUE;

    while (*p != '\0') {
        size_t klen = strcspn(p, "=,");
        g_autoptr(GString) value = g_string_new(NULL);

        if (p[klen] != '=' && first && implied != NULL) {
            /* the whole first part (commas doubled) is the implied key's value */
            p = read_value(p, value);
            g_ptr_array_add(kv, g_strdup(implied));
        } else if (p[klen] != '=') {
            /* "key" alone is "key=on" */
            g_ptr_array_add(kv, g_strndup(p, klen));
            g_string_assign(value, "on");
            p += klen;
        } else {
            g_ptr_array_add(kv, g_strndup(p, klen));
            p = read_value(p + klen + 1, value);
        }
        g_ptr_array_add(kv, g_string_free(g_steal_pointer(&value), FALSE));
        first = FALSE;
        if (*p == ',')
            p++;
    }
    return kv;
}

static gboolean
check_opts(const OptSpec *spec, const char *value, GError **error)
{
    g_autoptr(GPtrArray) kv = test_qemu_opts_split(value, spec->implied);
    g_auto(GStrv) keys = g_strsplit(spec->keys, " ", -1);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i + 1 < kv->len; i += 2) {
        const char *key = g_ptr_array_index(kv, i);
        g_autofree char *repeat = g_strconcat(key, "+", NULL);

        if (g_strv_contains((const char *const *)keys, repeat))
            continue;
        if (g_strv_contains((const char *const *)keys, "*") && i > 0 &&
            strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(key) &&
            *key != '\0') {
            if (!g_hash_table_add(seen, (gpointer)key)) {
                g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s '%s': key '%s' given twice",
                            spec->name, value, key);
                return FALSE;
            }
            continue;
        }
        if (!g_strv_contains((const char *const *)keys, key)) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s '%s': unexpected key '%s'",
                        spec->name, value, key);
            return FALSE;
        }
        /* SPICE reads every plaintext-channel= (a list) */
        if (!g_hash_table_add(seen, (gpointer)key) && strcmp(key, "plaintext-channel") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s '%s': key '%s' given twice",
                        spec->name, value, key);
            return FALSE;
        }
    }
    return TRUE;
}

/* members of the outermost object as written (json-glib keeps only the last of a repeat) */
static guint
count_top_members(const char *json)
{
    gboolean in_string = FALSE;
    int depth = 0;
    guint n = 0;

    for (const char *p = json; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '"')
                in_string = FALSE;
            continue;
        }
        if (*p == '"')
            in_string = TRUE;
        else if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (*p == ':' && depth == 1)
            n++;
    }
    return n;
}

static gboolean
check_json(const OptSpec *spec, const char *value, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) local = NULL;
    JsonNode *root;

    if (value[0] != '{' || !json_parser_load_from_data(parser, value, -1, &local) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s '%s' is not a JSON object%s%s",
                    spec->name, value, local ? ": " : "", local ? local->message : "");
        return FALSE;
    }
    if (json_object_get_size(json_node_get_object(root)) != count_top_members(value)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s '%s' repeats a key", spec->name,
                    value);
        return FALSE;
    }
    return TRUE;
}

gboolean
test_argv_check(const char *const *argv, guint n_passthrough, GError **error)
{
    guint argc = g_strv_length((char **)argv);
    guint end;

    g_return_val_if_fail(argc >= n_passthrough + 1, FALSE);
    end = argc - n_passthrough;
    for (guint i = 1; i < end; i++) {
        const OptSpec *spec = NULL;
        const char *value;

        for (guint s = 0; s < G_N_ELEMENTS(specs); s++) {
            if (strcmp(specs[s].name, argv[i]) == 0)
                spec = &specs[s];
        }
        if (spec == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "argument %u '%s' is not an option "
                        "the builder writes", i, argv[i]);
            return FALSE;
        }
        if (spec->kind == OPT_FLAG)
            continue;
        if (++i >= end) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s has no value", spec->name);
            return FALSE;
        }
        value = argv[i];
        if (spec->kind == OPT_OPTS && !check_opts(spec, value, error))
            return FALSE;
        if (spec->kind == OPT_JSON && !check_json(spec, value, error))
            return FALSE;
    }
    return TRUE;
}
