/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "network-def.h"
#include "vb-paths.h"

G_BEGIN_DECLS

/*
 * Virtual networks (issue 12): the definitions, persistent under
 * VbPaths.network_config_dir (libvirt's layout), autostart symlinks, and the
 * objects the bus publishes. Locking as for domains (docs/threads.md): the
 * list's lock guards the tables, an object's lock its fields; never both
 * the other way round, never across I/O of a caller.
 */

typedef struct {
    gint ref;
    GMutex lock;
    char uuid_str[37];
    char *object_path;
    VbNetworkDef *def;  /* under lock: the persistent definition, or the transient one */
    VbNetworkDef *live; /* under lock: the running definition (bridge filled), nullable */
    gboolean persistent; /* under lock */
    gboolean active;     /* under lock */
    gboolean autostart;  /* under lock */
    gboolean removed;    /* under lock: left the list */
} VbNetworkObj;

VbNetworkObj *vb_network_obj_ref(VbNetworkObj *net);
void vb_network_obj_unref(VbNetworkObj *net);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbNetworkObj, vb_network_obj_unref)
char *vb_network_obj_get_name(VbNetworkObj *net);

/* What the bus shows of a network, copied under its lock. */
typedef struct {
    char *name;
    char uuid[37];
    gboolean active;
    gboolean persistent;
    gboolean autostart;
    char *bridge; /* "" when unknown */
} VbNetworkSnapshot;

void vb_network_obj_snapshot(VbNetworkObj *net, VbNetworkSnapshot *out);
void vb_network_snapshot_clear(VbNetworkSnapshot *s);

typedef enum {
    VB_NETWORK_NOTIFY_ADDED,
    VB_NETWORK_NOTIFY_CHANGED,
    VB_NETWORK_NOTIFY_REMOVED,
} VbNetworkNotifyKind;

/* Any thread, no lock held; @event/@detail: the Lifecycle signal, or NULL. */
typedef void (*VbNetworkNotifyFunc)(VbNetworkObj *net, VbNetworkNotifyKind kind,
                                    const char *event, const char *detail, gpointer user_data);
typedef char *(*VbNetworkPathFunc)(const char *uuid);

/* ListNetworks flags (libvirt's virConnectListAllNetworksFlags) */
typedef enum {
    VB_NETWORK_LIST_INACTIVE = 1 << 0,
    VB_NETWORK_LIST_ACTIVE = 1 << 1,
    VB_NETWORK_LIST_PERSISTENT = 1 << 2,
    VB_NETWORK_LIST_TRANSIENT = 1 << 3,
    VB_NETWORK_LIST_AUTOSTART = 1 << 4,
    VB_NETWORK_LIST_NO_AUTOSTART = 1 << 5,
} VbNetworkListFlags;
#define VB_NETWORK_LIST_ALL_FLAGS 0x3fu

/* GetXMLDesc flags (libvirt's virNetworkXMLFlags) */
#define VB_NETWORK_XML_INACTIVE 1u

/* Update flags (libvirt's virNetworkUpdateFlags) */
#define VB_NETWORK_UPDATE_AFFECT_LIVE 1u
#define VB_NETWORK_UPDATE_AFFECT_CONFIG 2u

typedef struct _VbNetworkList VbNetworkList;

VbNetworkList *vb_network_list_new(const VbPaths *paths, VbNetworkPathFunc path_func,
                                   VbNetworkNotifyFunc notify, gpointer user_data);
void vb_network_list_free(VbNetworkList *list);
guint vb_network_list_load(VbNetworkList *list);
VbNetworkObj *vb_network_list_find_by_name(VbNetworkList *list, const char *name,
                                           GError **error);
VbNetworkObj *vb_network_list_find_by_uuid(VbNetworkList *list, const char *uuid,
                                           GError **error);
GPtrArray *vb_network_list_collect(VbNetworkList *list, guint flags);

VbNetworkObj *vb_network_define_xml(VbNetworkList *list, const char *xml, GError **error);
VbNetworkObj *vb_network_create_xml(VbNetworkList *list, const char *xml, GError **error);
gboolean vb_network_undefine(VbNetworkList *list, VbNetworkObj *net, GError **error);
gboolean vb_network_start(VbNetworkList *list, VbNetworkObj *net, GError **error);
gboolean vb_network_destroy(VbNetworkList *list, VbNetworkObj *net, GError **error);
gboolean vb_network_set_autostart(VbNetworkList *list, VbNetworkObj *net, gboolean autostart,
                                  GError **error);
char *vb_network_get_xml_desc(VbNetworkObj *net, guint flags, GError **error);
gboolean vb_network_update(VbNetworkList *list, VbNetworkObj *net, guint command, guint section,
                           int index, const char *xml, guint flags, GError **error);

/*
 * What a domain's <interface type='network'> plugs into: the seam between
 * the networks and the domains' interfaces (filled from the running
 * definition, copied under the network's lock).
 */
typedef struct {
    char *network;      /* the network's name */
    char uuid[37];      /* the network's UUID */
    char *bridge;       /* the bridge a tap joins: the network's own, or the host
                           bridge of <forward mode='bridge'> */
    guint mtu;          /* the network's <mtu size>, 0 when unset */
    VbNetworkForwardMode forward_mode; /* VB_NETWORK_FORWARD_NONE when isolated */
} VbNetworkPort;

void vb_network_port_clear(VbNetworkPort *port);
gboolean vb_network_list_port_lookup(VbNetworkList *list, const char *name, VbNetworkPort *out,
                                     GError **error);
GPtrArray *vb_network_list_get_leases(VbNetworkList *list, VbNetworkObj *net, const char *mac,
                                      GError **error);

/* service start (issue 12, part driver): in this order, on the main thread */
guint vb_network_list_reconnect(VbNetworkList *list);
gboolean vb_network_list_ensure_default(VbNetworkList *list);
guint vb_network_list_autostart(VbNetworkList *list);
GPid vb_network_list_get_dnsmasq_pid(VbNetworkList *list, const char *name);

G_END_DECLS
