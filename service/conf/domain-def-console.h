/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the console and display hand-off needs from a live definition (issue 13, part
 * console): the character device OpenConsole/OpenChannel reach, and the displays a viewer
 * connects to.
 */

#include "domain-def.h"

G_BEGIN_DECLS

typedef enum {
    VB_CONSOLE_PTY,  /* a pty the service opens */
    VB_CONSOLE_UNIX, /* a unix socket QEMU listens on; the service connects */
} VbConsoleKind;

/**
 * VbConsoleTarget:
 * @kind: pty or unix socket
 * @alias: the device's alias ("serial0", "console1", "channel0"): the one-client key
 * @path: the pty or socket path
 */
typedef struct {
    VbConsoleKind kind;
    char *alias;
    char *path;
} VbConsoleTarget;

void vb_console_target_free(VbConsoleTarget *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbConsoleTarget, vb_console_target_free)

VbConsoleTarget *vb_domain_def_find_console(const VbDomainDef *def, const char *dev_name,
                                            GError **error);
VbConsoleTarget *vb_domain_def_find_channel(const VbDomainDef *def, const char *runtime_dir,
                                            const char *name, GError **error);

/**
 * VbGraphicsInfo:
 * One <graphics> of a live definition, as a viewer needs it (no password).
 */
typedef struct {
    char *type;   /* vnc, spice, sdl, ... */
    char *listen; /* nullable: the address */
    char *socket; /* nullable: <listen type='socket' socket=> */
    gboolean socket_listen; /* a <listen type='socket'>, with socket= or not */
    int port;     /* -1 when none */
    int tls_port; /* -1 when none */
    gboolean autoport;
    gboolean passwd_set;
} VbGraphicsInfo;

void vb_graphics_info_free(VbGraphicsInfo *g);
GPtrArray *vb_domain_def_get_graphics(const VbDomainDef *def);

gboolean vb_domain_def_find_screen(const VbDomainDef *def, guint screen, char **out_alias,
                                   guint *out_head, GError **error);

/* libvirt's virDomainMetadataType */
#define VB_METADATA_DESCRIPTION 0
#define VB_METADATA_TITLE 1
#define VB_METADATA_ELEMENT 2

char *vb_domain_def_get_metadata(const VbDomainDef *def, int type, const char *uri,
                                 GError **error);
gboolean vb_xml_text_check(const char *text, const char *what, GError **error);
gboolean vb_domain_def_set_metadata(VbDomainDef *def, int type, const char *metadata,
                                    const char *key, const char *uri, GError **error);

G_END_DECLS
