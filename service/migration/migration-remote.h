/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
    const char *ssh_config; /* nullable: ssh -F */
    gboolean trusted;       /* the URI may name ssh key files (a client's own URI) */
} VbRemoteOptions;

GDBusConnection *vb_remote_connect(const char *uri, const VbRemoteOptions *opts,
                                   GCancellable *cancellable, GError **error);
gboolean vb_remote_check_uri(const char *uri, gboolean trusted, GError **error);
char *vb_remote_uri_host(const char *uri);

G_END_DECLS
