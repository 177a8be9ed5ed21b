/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Console and display hand-off (issue 13, part console): domain-console.c (OpenConsole,
 * OpenChannel: the service's proxies) and domain-display.c (OpenGraphicsFD, Screenshot,
 * SendKey, InjectNMI). Worker threads.
 */

#include "domain-list.h"

G_BEGIN_DECLS

/* libvirt's virDomainConsoleFlags / virDomainChannelFlags */
#define VB_DOMAIN_CONSOLE_FORCE 1u
#define VB_DOMAIN_CONSOLE_SAFE 2u
/* libvirt's virDomainOpenGraphicsFlags */
#define VB_DOMAIN_OPEN_GRAPHICS_SKIPAUTH 1u

int vb_domain_open_console(VbDomainObj *dom, const char *dev_name, gboolean channel,
                           guint flags, GError **error);
guint vb_domain_console_count(void);
void vb_domain_console_shutdown(void);

int vb_domain_open_graphics_fd(VbDomainList *list, VbDomainObj *dom, guint idx, guint flags,
                               const char *owner, GError **error);
int vb_domain_screenshot(VbDomainList *list, VbDomainObj *dom, guint screen, const char *owner,
                         char **out_mime, GError **error);
gboolean vb_domain_send_key(VbDomainList *list, VbDomainObj *dom, guint codeset,
                            guint holdtime, const guint *keycodes, guint n_keycodes,
                            const char *owner, GError **error);
gboolean vb_domain_inject_nmi(VbDomainList *list, VbDomainObj *dom, const char *owner,
                              GError **error);

/* domain-keymap.c: a key of @codeset as QMP's KeyValue ({"type":"qcode"|"number",...}) */
gboolean vb_keymap_translate(guint codeset, guint keycode, char **out_qcode, int *out_number,
                             GError **error);

/* domain-metadata.c; libvirt's virDomainModificationImpact */
#define VB_DOMAIN_AFFECT_CURRENT 0u
#define VB_DOMAIN_AFFECT_LIVE 1u
#define VB_DOMAIN_AFFECT_CONFIG 2u

char *vb_domain_get_metadata(VbDomainObj *dom, int type, const char *uri, guint flags,
                             GError **error);
gboolean vb_domain_set_metadata(VbDomainList *list, VbDomainObj *dom, int type,
                                const char *metadata, const char *key, const char *uri,
                                guint flags, GError **error);

G_END_DECLS
