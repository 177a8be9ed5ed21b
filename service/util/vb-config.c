/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "vb-config.h"
#include "vb-error.h"

#define GROUP "virtbusd"

void
vb_config_init_defaults(VbConfig *c)
{
    c->worker_threads = 8;
    c->job_wait_timeout = 30;
    c->max_queued = 0;
    c->migration_port_min = 49152;
    c->migration_port_max = 49215;
    c->vnc_port_min = 5900;
    c->vnc_port_max = 65535;
    c->job_grace_period = 60;
    c->migration_host = NULL;
    c->migration_address = NULL;
    c->ssh_config = NULL;
    /* libvirt's defaults (libvirtd.conf): lost after ~30 s without an answer */
    c->keepalive_interval = 5;
    c->keepalive_count = 5;
    c->tunnel_command = g_strdup("virtbusctl");
    c->default_network = -1;
    c->agent_timeout = 10;
    /* -1 until main.c resolves them: auto and shutdown for the system service at /, none
     * in every other mode */
    c->cgroup_mode = -1;
    c->on_host_shutdown = -1;
    c->shutdown_timeout = 300;
    c->seccomp_sandbox = 1;
    c->namespaces = 1; /* main.c turns it off for the session service and non-root */
}

static const char *const cgroup_modes[] = { "none", "auto", "machined", "systemd", "direct",
                                            NULL };
static const char *const host_shutdown_actions[] = { "none", "shutdown", "managedsave", NULL };

/** vb_cgroup_mode_to_string: the setting's word for @mode */
const char *
vb_cgroup_mode_to_string(VbCgroupMode mode)
{
    return mode < VB_CGROUP_MODE_LAST ? cgroup_modes[mode] : "none";
}

/* Frees what vb_config_load() allocated. */
void
vb_config_clear(VbConfig *c)
{
    g_clear_pointer(&c->migration_host, g_free);
    g_clear_pointer(&c->migration_address, g_free);
    g_clear_pointer(&c->ssh_config, g_free);
    g_clear_pointer(&c->tunnel_command, g_free);
    g_clear_pointer(&c->qemu_user, g_free);
    g_clear_pointer(&c->qemu_group, g_free);
}

static gboolean
read_string(GKeyFile *kf, const char *key, gboolean absolute_path, char **out, GError **error)
{
    g_autofree char *v = NULL;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_key_file_get_string(kf, GROUP, key, NULL);
    if (v == NULL || *v == '\0' || (absolute_path && !g_path_is_absolute(v)) ||
        strpbrk(v, " \t\n") != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "setting '%s' must be %s", key,
                    absolute_path ? "an absolute path without spaces" : "a host name or address");
        return FALSE;
    }
    g_free(*out);
    *out = g_steal_pointer(&v);
    return TRUE;
}

/* A program name or path the remote shell runs as is: no character it interprets. */
static gboolean
read_command(GKeyFile *kf, const char *key, char **out, GError **error)
{
    g_autofree char *v = NULL;
    gboolean ok;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_key_file_get_string(kf, GROUP, key, NULL);
    ok = v != NULL && *v != '\0' && *v != '-' && strlen(v) <= 4096;
    for (const char *p = v; ok && *p != '\0'; p++)
        ok = g_ascii_isalnum(*p) || strchr("/._+-", *p) != NULL;
    if (!ok) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "setting '%s' must be a program name or path of letters, digits and "
                    "/ . _ + - (not starting with -)", key);
        return FALSE;
    }
    g_free(*out);
    *out = g_steal_pointer(&v);
    return TRUE;
}

/* A user or group name as useradd(8) takes it: no path, no shell character. */
static gboolean
read_account(GKeyFile *kf, const char *key, char **out, GError **error)
{
    g_autofree char *v = NULL;
    gboolean ok;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_key_file_get_string(kf, GROUP, key, NULL);
    if (v != NULL)
        g_strstrip(v);
    ok = v != NULL && *v != '\0' && *v != '-' && strlen(v) <= 64;
    for (const char *p = v; ok && *p != '\0'; p++)
        ok = g_ascii_isalnum(*p) || strchr("._-", *p) != NULL;
    if (!ok) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "setting '%s' must be a user or group name (letters, digits, . _ -)", key);
        return FALSE;
    }
    g_free(*out);
    *out = g_steal_pointer(&v);
    return TRUE;
}

/* one word of @words; *out is its index */
static gboolean
read_enum(GKeyFile *kf, const char *key, const char *const *words, int *out, GError **error)
{
    g_autofree char *v = NULL;
    g_autofree char *all = NULL;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_strstrip(g_key_file_get_string(kf, GROUP, key, NULL));
    for (int i = 0; words[i] != NULL; i++) {
        if (g_ascii_strcasecmp(v, words[i]) == 0) {
            *out = i;
            return TRUE;
        }
    }
    all = g_strjoinv(", ", (char **)words);
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "setting '%s' must be one of %s (not '%s')",
                key, all, v);
    return FALSE;
}

/* yes/no/true/false/1/0, or "auto" (-1) */
static gboolean
read_auto_bool(GKeyFile *kf, const char *key, int *out, GError **error)
{
    g_autofree char *v = NULL;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_strstrip(g_key_file_get_string(kf, GROUP, key, NULL));
    if (g_ascii_strcasecmp(v, "auto") == 0)
        *out = -1;
    else if (g_ascii_strcasecmp(v, "yes") == 0 || g_ascii_strcasecmp(v, "true") == 0 ||
             strcmp(v, "1") == 0)
        *out = 1;
    else if (g_ascii_strcasecmp(v, "no") == 0 || g_ascii_strcasecmp(v, "false") == 0 ||
             strcmp(v, "0") == 0)
        *out = 0;
    else {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "setting '%s' must be yes, no or auto (not '%s')", key, v);
        return FALSE;
    }
    return TRUE;
}

/* yes/no/true/false/1/0 */
static gboolean
read_bool(GKeyFile *kf, const char *key, int *out, GError **error)
{
    int v = *out;

    if (!read_auto_bool(kf, key, &v, error))
        return FALSE;
    if (v < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "setting '%s' must be yes or no",
                    key);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean
read_uint(GKeyFile *kf, const char *key, guint min, guint max, guint *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 v;

    if (!g_key_file_has_key(kf, GROUP, key, NULL))
        return TRUE;
    v = g_key_file_get_int64(kf, GROUP, key, &local);
    if (local != NULL || v < min || v > max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "setting '%s' must be an integer from %u to %u", key, min, max);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

/**
 * vb_config_load:
 * @path: keyfile to read
 * @must_exist: whether a missing file is an error
 *
 * Overrides the values of @config that @path sets. Unknown keys are
 * logged, bad values are errors naming the key.
 */
gboolean
vb_config_load(VbConfig *c, const char *path, gboolean must_exist, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) keys = NULL;
    static const char *const known[] = {
        "worker_threads", "job_wait_timeout", "max_queued", "migration_port_min",
        "migration_port_max", "vnc_port_min", "vnc_port_max", "job_grace_period",
        "migration_host", "migration_address", "ssh_config", "keepalive_interval",
        "keepalive_count", "tunnel_command", "agent_timeout", "default_network",
        "qemu_user", "qemu_group",
        /* issue 14, part cgroup */
        "cgroup_mode", "on_host_shutdown", "shutdown_timeout",
        /* issue 14, part launch */
        "seccomp_sandbox", "namespaces", NULL,
    };

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        if (!must_exist && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "cannot read config '%s': %s",
                    path, local->message);
        return FALSE;
    }
    keys = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
        if (!g_strv_contains(known, keys[i]))
            g_warning("%s: ignoring unknown setting '%s'", path, keys[i]);
    }
    if (!read_uint(kf, "worker_threads", 1, 256, &c->worker_threads, error) ||
        !read_uint(kf, "job_wait_timeout", 1, 86400, &c->job_wait_timeout, error) ||
        !read_uint(kf, "max_queued", 0, 100000, &c->max_queued, error) ||
        !read_uint(kf, "migration_port_min", 1, 65535, &c->migration_port_min, error) ||
        !read_uint(kf, "migration_port_max", 1, 65535, &c->migration_port_max, error) ||
        !read_uint(kf, "vnc_port_min", 5900, 65535, &c->vnc_port_min, error) ||
        !read_uint(kf, "vnc_port_max", 5900, 65535, &c->vnc_port_max, error) ||
        !read_uint(kf, "job_grace_period", 0, 86400, &c->job_grace_period, error) ||
        !read_uint(kf, "keepalive_interval", 0, 3600, &c->keepalive_interval, error) ||
        !read_uint(kf, "keepalive_count", 1, 100, &c->keepalive_count, error) ||
        !read_uint(kf, "agent_timeout", 1, 3600, &c->agent_timeout, error) ||
        !read_string(kf, "migration_host", FALSE, &c->migration_host, error) ||
        !read_string(kf, "migration_address", FALSE, &c->migration_address, error) ||
        !read_string(kf, "ssh_config", TRUE, &c->ssh_config, error) ||
        !read_command(kf, "tunnel_command", &c->tunnel_command, error) ||
        !read_auto_bool(kf, "default_network", &c->default_network, error) ||
        !read_account(kf, "qemu_user", &c->qemu_user, error) ||
        !read_account(kf, "qemu_group", &c->qemu_group, error) ||
        !read_enum(kf, "cgroup_mode", cgroup_modes, &c->cgroup_mode, error) ||
        !read_enum(kf, "on_host_shutdown", host_shutdown_actions, &c->on_host_shutdown, error) ||
        !read_uint(kf, "shutdown_timeout", 1, 86400, &c->shutdown_timeout, error) ||
        !read_bool(kf, "seccomp_sandbox", &c->seccomp_sandbox, error) ||
        !read_bool(kf, "namespaces", &c->namespaces, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    if (c->migration_port_min > c->migration_port_max || c->vnc_port_min > c->vnc_port_max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s: a port range's minimum is above its maximum", path);
        return FALSE;
    }
    return TRUE;
}
