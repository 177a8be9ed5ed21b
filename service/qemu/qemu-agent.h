/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A client of the QEMU guest agent (qemu-ga) on the unix socket of the domain's
 * `org.qemu.guest_agent.0` channel (issue 12, part addresses; issue 13 builds the full
 * agent support on it).
 *
 * One VbQemuAgent is one connection to QEMU's chardev socket. A command runs as
 * open → vb_qemu_agent_sync() (guest-sync-delimited: a 0xFF byte resets qemu-ga's parser,
 * replies before qemu-ga's 0xFF sentinel are stale and dropped, a random id matches the
 * answer) → vb_qemu_agent_command(). Every wait is bounded by a deadline (monotonic µs);
 * the calling thread (a worker) blocks in poll() at most until then and never longer:
 * a guest that does not answer (no qemu-ga, paused, hung) costs the caller its timeout,
 * nothing more. A reply line is at most VB_QEMU_AGENT_MAX_REPLY bytes and is checked with
 * vb_qemu_json_check() (strict JSON, bounded nesting) before json-glib parses it.
 *
 * Errors (VB_ERROR): AgentUnresponsive when the socket cannot be reached or QEMU closes it
 * ("not connected"), OperationTimeout when the deadline passes ("timed out"),
 * AgentCommandFailed for the guest's own error reply or a malformed one.
 *
 * The seam for issue 13: a VbQemuAgent may be kept open across commands (sync before each,
 * as libvirt does), and vb_qemu_agent_cancel() wakes a waiter from another thread (a
 * Destroy, the end of the run, a VSERPORT_CHANGE closing the port).
 *
 * Not thread-safe: one thread uses a VbQemuAgent at a time (the domain's agent job
 * guarantees it); only vb_qemu_agent_cancel() may be called from another thread.
 */

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define VB_QEMU_AGENT_MAX_REPLY (16u * 1024 * 1024)

typedef struct _VbQemuAgent VbQemuAgent;

VbQemuAgent *vb_qemu_agent_open(const char *path, GError **error);
gboolean vb_qemu_agent_sync(VbQemuAgent *agent, gint64 deadline, GError **error);
JsonNode *vb_qemu_agent_command(VbQemuAgent *agent, const char *command, JsonObject *args,
                                gint64 deadline, GError **error);
gboolean vb_qemu_agent_command_noreply(VbQemuAgent *agent, const char *command,
                                       JsonObject *args, gint64 deadline, GError **error);
char *vb_qemu_agent_command_text(VbQemuAgent *agent, const char *json, gint64 deadline,
                                 GError **error);
void vb_qemu_agent_cancel(VbQemuAgent *agent);
void vb_qemu_agent_free(VbQemuAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuAgent, vb_qemu_agent_free)

JsonNode *vb_qemu_agent_run(const char *path, const char *command, JsonObject *args,
                            guint timeout_ms, GError **error);

/**
 * VbGuestIPAddress:
 * @addr: the address as text
 * @type: 0 IPv4, 1 IPv6 (libvirt's VIR_IP_ADDR_TYPE_*)
 * @prefix: its prefix length
 */
typedef struct {
    char *addr;
    guint type;
    guint prefix;
} VbGuestIPAddress;

/**
 * VbGuestInterface:
 * @name: the interface's name (the guest's for AGENT, the host tap's otherwise), or %NULL
 * @hwaddr: its MAC, or %NULL
 * @addrs: (element-type VbGuestIPAddress): its addresses
 *
 * One interface of InterfaceAddresses (libvirt's virDomainInterface).
 */
typedef struct {
    char *name;
    char *hwaddr;
    GArray *addrs;
} VbGuestInterface;

VbGuestInterface *vb_guest_interface_new(const char *name, const char *hwaddr);
void vb_guest_interface_add(VbGuestInterface *iface, const char *addr, guint type,
                            guint prefix);
void vb_guest_interface_free(VbGuestInterface *iface);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbGuestInterface, vb_guest_interface_free)
GPtrArray *vb_qemu_agent_parse_interfaces(JsonNode *ret, GError **error);

/* ---- readers of agent replies (issue 13, part agent): qemu-agent-guest.c ---- */

/**
 * VbGuestFS:
 * @mountpoint: where it is mounted in the guest
 * @name: the guest's device name ("vda1", "dm-0")
 * @fstype: its type ("ext4")
 * @devices: (array zero-terminated=1): its disks' device nodes ("/dev/vda"; "" if none)
 * @serials: (array zero-terminated=1): their serials ("" if none), one per device
 * @buses: (array zero-terminated=1): their bus types ("virtio", "scsi", ...)
 * @addrs: (element-type VbGuestDiskAddr): where each disk is, as the guest sees it
 * @has_sizes: the guest gave total-bytes/used-bytes
 */
/* A disk's place as qemu-ga reports it (pci-controller; bus, target, unit). */
typedef struct {
    gboolean has_pci;
    guint pci_domain, pci_bus, pci_slot, pci_function;
    guint bus, target, unit;
} VbGuestDiskAddr;

typedef struct {
    char *mountpoint;
    char *name;
    char *fstype;
    GStrv devices;
    GStrv serials;
    GStrv buses;
    GArray *addrs;
    gboolean has_sizes;
    guint64 total_bytes;
    guint64 used_bytes;
} VbGuestFS;

void vb_guest_fs_free(VbGuestFS *fs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbGuestFS, vb_guest_fs_free)
gboolean vb_qemu_agent_parse_time(JsonNode *ret, gint64 *out_seconds, guint *out_nseconds,
                                  GError **error);
char *vb_qemu_agent_parse_host_name(JsonNode *ret, GError **error);
GPtrArray *vb_qemu_agent_parse_fsinfo(JsonNode *ret, GError **error);
gboolean vb_qemu_agent_info_users(JsonNode *ret, GVariantDict *d, GError **error);
gboolean vb_qemu_agent_info_os(JsonNode *ret, GVariantDict *d, GError **error);
gboolean vb_qemu_agent_info_timezone(JsonNode *ret, GVariantDict *d, GError **error);
void vb_qemu_agent_info_fs(GPtrArray *fss, GStrv *aliases, GVariantDict *d);
void vb_qemu_agent_parse_disk_addr(JsonObject *d, VbGuestDiskAddr *addr);

/**
 * VbGuestDisk: a block device of guest-get-disks (issue 13, part misc)
 * @name: the guest's device node ("/dev/vda", "/dev/vda1")
 * @partition: it is a partition
 * @dependencies: (nullable) (array zero-terminated=1): the devices it is built on
 * @has_address: the agent gave an address (@serial, @bus_type, @addr)
 * @alias: (nullable): the guest's name for it (e.g. a device-mapper name)
 */
typedef struct {
    char *name;
    gboolean partition;
    GStrv dependencies;
    gboolean has_address;
    char *serial;
    char *bus_type;
    VbGuestDiskAddr addr;
    char *alias;
} VbGuestDisk;

void vb_guest_disk_free(VbGuestDisk *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbGuestDisk, vb_guest_disk_free)
GPtrArray *vb_qemu_agent_parse_disks(JsonNode *ret, GError **error);

G_END_DECLS
