/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Shared by the qemu-command*.c files only. Devices are written as JSON (-device '{...}',
 * -blockdev, -netdev, -object), as libvirt 9.x does for QEMU 7.2, with the keys in
 * libvirt's order so the goldens read like libvirt's qemuxmlconfdata *.args.
 */

#include <json-glib/json-glib.h>

#include "domain-def-priv.h"
#include "qemu-command.h"

typedef struct {
    GPtrArray *argv;
    const VbDomainDef *def;
    const VbQemuCaps *caps;
    const VbQemuCommandParams *params;
    guint taint;
    gboolean q35;
    GHashTable *bootindex; /* VbDeviceDef* -> bootindex (GINT) */
    GHashTable *consumed;  /* kept elements a builder acted on: VbDeviceDef* or name */
    GPtrArray *ignored;    /* char*: what is kept but not acted on, for Unsupported */
    gboolean check_only;   /* vb_qemu_command_check(): no side effects, caller's lines */
    /* helpers and firmware (issue 10, part helpers) */
    int pflash;            /* pflash units used: 0, 1 (code), 2 (code + NVRAM) */
    gboolean pflash_secure;
    int smm;               /* <smm state=>: -1, 0, 1 */
    int graphics_autoports; /* displays on an address that took params->vnc_port */
} VbQemuCmd;

/* qemu-command.c */
void vb_qemu_cmd_add(VbQemuCmd *c, const char *arg);
void vb_qemu_cmd_addf(VbQemuCmd *c, const char *opt, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
char *vb_qemu_cmd_escape(const char *value);
gboolean vb_qemu_cmd_unsupported(const VbQemuCmd *c, GError **error, const VbDeviceDef *dev,
                                 const char *fmt, ...) G_GNUC_PRINTF(4, 5);
gboolean vb_qemu_cmd_need_device(VbQemuCmd *c, const VbDeviceDef *dev, const char *name,
                                 GError **error);
gboolean vb_qemu_cmd_check_extra(const VbQemuCmd *c, const VbDeviceDef *dev,
                                 const VbExtra *extra,
                                 const char *where, const char *const ok_attrs[],
                                 const char *const ok_children[], GError **error);
int vb_qemu_cmd_device_index(const VbQemuCmd *c, const VbDeviceDef *dev);

/*
 * Kept elements (VbRawElem at the top level of <domain>, VB_DEV_UNKNOWN devices) that a
 * builder turns into options must be claimed, by element name for a top-level one
 * ("memoryBacking") or by device. At the end of the build a kept device nobody claimed is
 * refused with NotSupported, and a kept top-level element nobody claimed is reported as
 * "not acted on" (vb_qemu_cmd_ignore()).
 */
void vb_qemu_cmd_consume(VbQemuCmd *c, const char *toplevel_name);
void vb_qemu_cmd_consume_device(VbQemuCmd *c, const VbDeviceDef *dev);
gboolean vb_qemu_cmd_is_consumed_device(const VbQemuCmd *c, const VbDeviceDef *dev);

/*
 * Records a setting that is deliberately not acted on and does not stop the start (it
 * goes to the domain's Unsupported property at define, to the domain log at start; with
 * VALIDATE, define refuses it). @dev names the element, or @elem (without brackets) and
 * @line (0: unknown) when there is no device, e.g. ("memtune", raw->line).
 */
void vb_qemu_cmd_ignore(VbQemuCmd *c, const VbDeviceDef *dev, const char *elem, int line,
                        const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/*
 * How a device is named in messages: "<tpm> at line 40" for the caller's own document
 * (vb_qemu_command_check() at define), "<tpm> devices/tpm[1]" at start, where the
 * definition was read back from the service's reformatted copy and its lines mean nothing
 * to the caller. Free with g_free.
 */
char *vb_qemu_cmd_describe(const VbQemuCmd *c, const VbDeviceDef *dev);

/* JSON objects with ordered keys */
GString *vb_json_new(void);
void vb_json_str(GString *j, const char *key, const char *value);
void vb_json_int(GString *j, const char *key, gint64 value);
void vb_json_bool(GString *j, const char *key, gboolean value);
char *vb_json_end(GString *j);
void vb_qemu_cmd_add_json(VbQemuCmd *c, const char *opt, GString *j);
gboolean vb_qemu_cmd_add_device(VbQemuCmd *c, const VbDeviceDef *dev, GString *j,
                                GError **error);
gboolean vb_qemu_cmd_pci_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev,
                               GError **error);
void vb_qemu_cmd_bootindex(VbQemuCmd *c, GString *j, const VbDeviceDef *dev);
gboolean vb_qemu_cmd_isa_iobase(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j,
                                const char *key, GError **error);

/* qemu-command-cpu.c */
gboolean vb_qemu_cmd_build_cpu(VbQemuCmd *c, GError **error);
/* qemu-command-netopts.c */
gboolean vb_qemu_cmd_net_driver_opts(const VbQemuCmd *c, const VbDeviceDef *dev,
                                     const VbRawElem *raw, gboolean virtio, GString *j, int part,
                                     GError **error);
gboolean vb_qemu_cmd_cpu_feature_flag(const VbRawElem *raw, const char **out_prop,
                                      gboolean *out_on);
gboolean vb_qemu_cmd_build_cpu_memory(VbQemuCmd *c, GError **error);
void vb_qemu_cmd_machine_memory_opts(VbQemuCmd *c, GString *opts);
gboolean vb_qemu_cmd_memory_is_shared(const VbQemuCmd *c);
void vb_qemu_cmd_machine_memory_backend(VbQemuCmd *c, GString *opts);

/* qemu-command-disk.c */
gboolean vb_qemu_cmd_build_controllers(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_disks(VbQemuCmd *c, GError **error);

char *vb_qemu_cmd_disk_id(const VbDomainDef *def, const VbDeviceDef *dev);
/* hotplug (issue 13, part hotplug) */
gboolean vb_qemu_cmd_build_disk_one(VbQemuCmd *c, const VbDeviceDef *dev, int node,
                                    GError **error);

/* qemu-command-blockdev.c: a disk's images and their -blockdev nodes */
typedef struct _VbQemuDiskChain VbQemuDiskChain;
void vb_qemu_disk_chain_free(VbQemuDiskChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuDiskChain, vb_qemu_disk_chain_free)
VbQemuDiskChain *vb_qemu_cmd_disk_chain(const VbQemuCmd *c, const VbDeviceDef *dev,
                                        GError **error);
gboolean vb_qemu_disk_chain_is_empty(const VbQemuDiskChain *chain);
guint vb_qemu_disk_chain_length(const VbQemuDiskChain *chain);
gboolean vb_qemu_cmd_build_disk_nodes(VbQemuCmd *c, const VbDeviceDef *dev,
                                      const VbQemuDiskChain *chain, int node, char **out_drive,
                                      GError **error);
gboolean vb_qemu_cmd_cache_mode(const char *mode, gboolean *direct, gboolean *no_flush,
                                gboolean *wce);
const char *vb_qemu_cmd_disk_cache(const VbDeviceDef *dev);
gboolean vb_qemu_cmd_disk_iotune(const VbQemuCmd *c, const VbDeviceDef *dev,
                                 JsonObject **out_args, GError **error);

/* qemu-command-net.c */
gboolean vb_qemu_cmd_build_nets(VbQemuCmd *c, GError **error);
guint vb_qemu_net_queues(const VbDeviceDef *dev);
gboolean vb_qemu_cmd_build_net_one(VbQemuCmd *c, const VbDeviceDef *dev,
                                   GError **error); /* issue 13, part hotplug */

/* qemu-command-chardev.c */
gboolean vb_qemu_cmd_build_chardevs(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_channel_one(VbQemuCmd *c, const VbDeviceDef *dev,
                                       GError **error); /* issue 13, part hotplug */
gboolean vb_qemu_cmd_add_chardev_raw(VbQemuCmd *c, const VbDeviceDef *dev,
                                     struct _xmlNode *root, const char *id,
                                     const char *spicevmc, GError **error);

/* qemu-helpers.c: a <tpm> as the command line and swtpm need it */
typedef struct {
    char *model;       /* tpm-tis (default), tpm-crb */
    gboolean emulator; /* else passthrough */
    char *version;     /* emulator: "2.0" or "1.2" (libvirt's default by model) */
    char *device_path; /* passthrough: /dev/tpm0 by default */
    char *cancel_path; /* passthrough: sysfs cancel file */
} VbQemuTpm;
void vb_qemu_tpm_free(VbQemuTpm *tpm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuTpm, vb_qemu_tpm_free)
VbQemuTpm *vb_qemu_tpm_read(const VbDeviceDef *dev, const char *what, GError **error);

/* qemu-command-helpers.c (issue 10, part helpers) */
gboolean vb_qemu_cmd_build_pflash(VbQemuCmd *c, GError **error);
void vb_qemu_cmd_machine_helper_opts(VbQemuCmd *c, GString *opts);
void vb_qemu_cmd_build_pflash_global(VbQemuCmd *c);
gboolean vb_qemu_cmd_build_filesystems(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_tpms(VbQemuCmd *c, GError **error);

/* qemu-command-devices.c */
gboolean vb_qemu_cmd_usb_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev,
                               GError **error);
gboolean vb_qemu_cmd_usb_bus_port(VbQemuCmd *c, GString *j, const VbDeviceDef *dev,
                                  const char *bus, const char *port, GError **error);
gboolean vb_qemu_cmd_build_inputs(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_video(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_misc(VbQemuCmd *c, GError **error);
/* hotplug (issue 13, part hotplug) */
gboolean vb_qemu_cmd_build_rng_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error);
gboolean vb_qemu_cmd_build_input_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error);
/* issue 13, part hotplug (second session) */
gboolean vb_qemu_cmd_build_watchdog_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error);
gboolean vb_qemu_cmd_build_controller_one(VbQemuCmd *c, const VbDeviceDef *dev,
                                          GError **error);
gboolean vb_qemu_cmd_build_serial_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error);

/* qemu-command-graphics.c */
gboolean vb_qemu_cmd_build_graphics(VbQemuCmd *c, GError **error);

/* qemu-command-audio.c */
gboolean vb_qemu_cmd_build_audio(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_sound(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_audio_id(const VbQemuCmd *c, const VbDeviceDef *dev, char **out_id,
                              GError **error);
gboolean vb_qemu_cmd_machine_audio(VbQemuCmd *c, GString *opts, GError **error);

/* qemu-command-usbredir.c */
gboolean vb_qemu_cmd_build_smartcards(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_redirdevs(VbQemuCmd *c, GError **error);

/* memory devices (issue 13, part memev): <memory model='dimm'> at start */
gboolean vb_qemu_cmd_build_memdevs(VbQemuCmd *c, GError **error);
gboolean vb_qemu_cmd_build_memdev_one(VbQemuCmd *c, const VbDeviceDef *dev, GError **error);
