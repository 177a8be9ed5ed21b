/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Contract between conf/ and the rest of the service. conf/ may add
 * fields and functions, but keeps these names and semantics.
 */

typedef enum {
    VB_DOMAIN_VIRT_QEMU,
    VB_DOMAIN_VIRT_KVM,
    VB_DOMAIN_VIRT_LAST
} VbDomainVirtType;

/* Flags for vb_domain_def_parse_string() */
typedef enum {
    VB_DOMAIN_DEF_PARSE_INACTIVE = 1 << 0, /* a persistent config: no runtime-only data */
} VbDomainDefParseFlags;

/* Flags for vb_domain_def_format(); values match GetXMLDesc's bus flags */
typedef enum {
    VB_DOMAIN_DEF_FORMAT_SECURE = 1 << 0,     /* include passwords (graphics passwd) */
    VB_DOMAIN_DEF_FORMAT_INACTIVE = 1 << 1,   /* the persistent definition */
    VB_DOMAIN_DEF_FORMAT_MIGRATABLE = 1 << 3, /* leave out what is implied */
} VbDomainDefFormatFlags;

typedef struct _VbDomainDef VbDomainDef;

struct _VbDomainDef {
    VbDomainVirtType virt_type;
    char *name;
    unsigned char uuid[16];
    char *title;       /* nullable */
    char *description; /* nullable */

    guint64 max_memory_kib;     /* <memory>, KiB */
    guint64 current_memory_kib; /* <currentMemory>, KiB */
    guint vcpus_max;            /* <vcpu> */
    guint vcpus_current;        /* <vcpu current=> (== vcpus_max when absent) */

    /* names of top-level/device elements kept verbatim but not acted on */
    GPtrArray *unknown_elements; /* of char*, element names */

    /* private to conf/: the rest of the model */
    struct _VbDomainDefPrivate *priv;
};

VbDomainDef *vb_domain_def_parse_string(const char *xml, guint parse_flags, GError **error);
char *vb_domain_def_format(const VbDomainDef *def, guint format_flags, GError **error);
VbDomainDef *vb_domain_def_copy(const VbDomainDef *def);
void vb_domain_def_free(VbDomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDomainDef, vb_domain_def_free)

gboolean vb_domain_def_check_abi_stability(const VbDomainDef *src, const VbDomainDef *dst,
                                           GError **error);

/* uuid helpers: canonical 36-char lowercase form */
gboolean vb_uuid_parse(const char *str, unsigned char out_uuid[16]);
void vb_uuid_format(const unsigned char uuid[16], char out_str[37]);
void vb_uuid_generate(unsigned char out_uuid[16]);

/* checks a domain name alone (used also for lookups and file names) */
gboolean vb_domain_def_name_validate(const char *name, GError **error);

/* enum helpers: to_string returns NULL for out-of-range, from_string -1 for unknown */
const char *vb_domain_virt_type_to_string(VbDomainVirtType type);
int vb_domain_virt_type_from_string(const char *str);

/*
 * Converts a libvirt memory value with unit (b, bytes, k, KiB, KB, M, MiB, MB, G, GiB, GB,
 * T, TiB, TB, P, PiB, PB, E, EiB, EB; NULL or "" means KiB) to KiB, rounding bytes up.
 */
/* the largest memory size a definition holds: 2^53 bytes (8 PiB), far above what QEMU
 * runs; vb_domain_memory_parse_kib() refuses more, and so must every call that sets one */
#define VB_DOMAIN_MEMORY_MAX_KIB ((G_GUINT64_CONSTANT(1) << 53) / 1024)
gboolean vb_domain_memory_parse_kib(const char *value, const char *unit, guint64 *out_kib,
                                    GError **error);

/* read-only accessors to the modelled data (strings owned by @def, nullable) */
const char *vb_domain_def_get_os_type(const VbDomainDef *def);
const char *vb_domain_def_get_arch(const VbDomainDef *def);
const char *vb_domain_def_get_machine(const VbDomainDef *def);
const char *vb_domain_def_get_emulator(const VbDomainDef *def);
guint vb_domain_def_get_iothreads(const VbDomainDef *def);
/* disk target devs ("vda", ...) and interface MACs, in document order; free with g_strfreev */
char **vb_domain_def_get_disk_targets(const VbDomainDef *def);
char **vb_domain_def_get_interface_macs(const VbDomainDef *def);

/*
 * Define-time defaults and addresses (domain-def-addresses.c): NIC model and MAC, drive,
 * virtio-serial and PCI addresses, the controllers those need. Call once on define, before
 * storing the persistent XML. Idempotent.
 */
gboolean vb_domain_def_assign_addresses(VbDomainDef *def, GError **error);

/*
 * <qemu:commandline> passthrough (namespace http://libvirt.org/schemas/domain/qemu/1.0):
 * the <qemu:arg value=> values and <qemu:env> as "NAME=VALUE", in order; free with
 * g_strfreev. Both are empty (not NULL) when there is none.
 */
gboolean vb_domain_def_get_qemu_commandline(const VbDomainDef *def, char ***out_args,
                                            char ***out_env, GError **error);

/* Runtime facts recorded in a live definition (domain-def-query.c). */
gboolean vb_domain_def_needs_autoport(const VbDomainDef *def);
gboolean vb_domain_def_get_spice(const VbDomainDef *def, int *out_port, int *out_tls_port);
void vb_domain_def_set_autoport(VbDomainDef *def, int port);

/* Runtime-only values of a live definition (domain-def-runtime.c) */
void vb_domain_def_set_live(VbDomainDef *def, int id);
void vb_domain_def_clear_runtime(VbDomainDef *def);
void vb_domain_def_set_interface_live(VbDomainDef *def, guint index, const char *ifname,
                                      const char *bridge);
gboolean vb_domain_def_set_chardev_pty(VbDomainDef *def, const char *label, const char *path);
void vb_domain_def_set_os_defaults(VbDomainDef *def, const char *arch, const char *machine);
gboolean vb_domain_def_drop_line(VbDomainDef *def, int line);
void vb_domain_def_drop_disk_source(VbDomainDef *def, const char *target_dev);

/* A display's password settings (domain-def-query.c): what QMP's set_password and
 * expire_password take. */
typedef struct {
    char *protocol;  /* "vnc" or "spice" */
    char *passwd;
    char *connected; /* connected=: NULL, "keep", "fail" or "disconnect" */
    gboolean expires;
    gint64 valid_to; /* passwdValidTo=, seconds since the epoch */
} VbGraphicsAuth;

gboolean vb_graphics_parse_valid_to(const char *text, gint64 *out);
void vb_graphics_auth_clear(VbGraphicsAuth *auth);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbGraphicsAuth, vb_graphics_auth_clear)
GArray *vb_domain_def_get_graphics_auths(const VbDomainDef *def);

int vb_domain_def_get_balloon_period(const VbDomainDef *def);
gboolean vb_domain_def_needs_websocket_port(const VbDomainDef *def);

/* The firmware of a domain (domain-def-firmware.c; issue 10, part helpers). */
typedef struct {
    char *firmware;         /* <os firmware=>: "efi", "bios" or NULL */
    int secure_boot;        /* <firmware><feature name='secure-boot' enabled=>: -1, 0, 1 */
    int enrolled_keys;      /* likewise for 'enrolled-keys' */
    char *loader_path;      /* <loader> text, NULL when empty or absent */
    char *loader_type;      /* rom, pflash or NULL */
    gboolean loader_readonly;
    int loader_secure;      /* secure=: -1, 0, 1 */
    gboolean loader_stateless;
    gboolean nvram_present;
    int nvram_line;
    gboolean nvram_other;   /* a type= or <source>: not a plain file path */
    char *nvram_path;
    char *nvram_template;
    int smm;                /* <features><smm state=>: -1 absent, 0 off, 1 on */
} VbDomainFirmware;

void vb_domain_def_get_firmware(const VbDomainDef *def, VbDomainFirmware *out);
void vb_domain_firmware_clear(VbDomainFirmware *fw);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbDomainFirmware, vb_domain_firmware_clear)
VbDomainDef *vb_domain_def_with_firmware(const VbDomainDef *def, const VbDomainFirmware *fw,
                                         GError **error);

/* What statistics need (domain-def-stats.c; issue 13, part stats). */
typedef struct {
    char *target; /* <target dev=> */
    char *path;   /* <source file=/dev=>, nullable */
    char *alias;  /* the QEMU id (virtio-disk0), nullable */
    char *device; /* disk, cdrom, floppy, lun */
    char *type;   /* file, block, ... */
} VbDomainDiskInfo;

void vb_domain_disk_info_free(VbDomainDiskInfo *info);
/* issue 15, part blockjob (domain-def-runtime.c): a file disk's new image after a pivot */
gboolean vb_domain_def_set_disk_source(VbDomainDef *def, const char *target_dev,
                                       const char *path, const char *format);
GPtrArray *vb_domain_def_get_disk_infos(const VbDomainDef *def);
gboolean vb_domain_def_has_virtio_balloon(const VbDomainDef *def);
gboolean vb_domain_def_set_balloon_period(VbDomainDef *def, int period, GError **error);

G_END_DECLS
