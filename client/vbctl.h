/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vb-dbus-generated.h"

G_BEGIN_DECLS

#define VBCTL_BUS_NAME "org.virtbus.Virt1"
#define VBCTL_MANAGER_PATH "/org/virtbus/Virt1"

/* Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
#define VBCTL_EXIT_FAILURE 1
#define VBCTL_EXIT_USAGE 2

/* Every boolean option of every command; a command's table names the ones it takes. */
typedef struct {
    gboolean all;
    gboolean inactive;
    gboolean json;
    gboolean names_only;
    gboolean migratable;
    gboolean security_info;
    gboolean disable;
} VbctlFlags;

typedef struct {
    GDBusConnection *connection;
    VbDBusManager *manager; /* created on first use by vbctl_manager() */
    VbctlFlags flags;
    char **args; /* positional arguments after the command, NULL-terminated */
    guint n_args;
} VbctlContext;

typedef gboolean (*VbctlCommandFunc)(VbctlContext *ctx, GError **error);

/* vbctl-commands.c */
gboolean vbctl_cmd_list(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_define(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_undefine(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dumpxml(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_info(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_autostart(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_capabilities(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_version(VbctlContext *ctx, GError **error);

/* vbctl-bus.c */
GDBusConnection *vbctl_connect(gboolean session, const char *address, GError **error);
gboolean vbctl_ensure_properties(GDBusProxy *proxy, GError **error);
VbDBusManager *vbctl_manager(VbctlContext *ctx, GError **error);
VbDBusDomain *vbctl_lookup_domain(VbctlContext *ctx, const char *name_or_uuid,
                                  gboolean load_properties, GError **error);
VbDBusDomain *vbctl_domain_proxy(VbctlContext *ctx, const char *path, gboolean load_properties,
                                 GError **error);
GVariant *vbctl_call_mutating(GDBusProxy *proxy, const char *method, GVariant *parameters,
                              const GVariantType *reply_type, GError **error);
gboolean vbctl_set_property(GDBusProxy *proxy, const char *property, GVariant *value,
                            GError **error);

G_END_DECLS
