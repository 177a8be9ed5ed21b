/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Private model of conf/: only domain-def*.c and domain-abi-check.c include this.
 *
 * Everything we model is held in typed fields. Everything we do not model (unknown
 * attributes, unknown child elements, whole unknown elements) is kept in a VbExtra /
 * VbRawElem next to the thing it belongs to, and written back at the position libvirt
 * would write it (see the rank tables), so a round trip never drops data.
 */

#include <libxml/tree.h>

#include "domain-def.h"
#include "domain-def-cpu.h"
#include "domain-def-tune.h"

/* an element kept verbatim, serialized at indentation level 0 */
typedef struct {
    int rank;   /* position among its siblings, from a rank table */
    char *name; /* qualified element name */
    char *xml;  /* literal newlines in here are structural only (text uses &#10;) */
    int line;
} VbRawElem;

/* what we do not model on one element */
typedef struct {
    GPtrArray *attrs;    /* nullable; char*: name, value, name, value ... in input order */
    GPtrArray *children; /* nullable; VbRawElem*, in input order */
} VbExtra;

/* largest <controller index=> */
#define VB_CONTROLLER_INDEX_MAX 255
/* <controller> without index=, only between parsing a device and the post-parse step */
#define VB_CONTROLLER_INDEX_UNSET G_MAXUINT

typedef enum {
    VB_ADDR_NONE,
    VB_ADDR_PCI,
    VB_ADDR_DRIVE,
    VB_ADDR_VIRTIO_SERIAL,
    VB_ADDR_OTHER, /* kept as type string + attributes */
} VbAddressType;

typedef struct {
    VbAddressType type;
    char *type_str;   /* only for VB_ADDR_OTHER */
    gboolean pci_set; /* any of domain/bus/slot/function given */
    guint domain;
    guint bus;
    guint slot;
    guint function;
    int multifunction; /* -1 unset, 0 off, 1 on */
    guint controller;
    guint target;
    guint unit;
    guint port;
    VbExtra extra;
} VbDeviceAddress;

typedef enum {
    VB_DEV_DISK,
    VB_DEV_CONTROLLER,
    VB_DEV_INTERFACE,
    VB_DEV_SERIAL,
    VB_DEV_CONSOLE,
    VB_DEV_CHANNEL,
    VB_DEV_INPUT,
    VB_DEV_GRAPHICS,
    VB_DEV_VIDEO,
    VB_DEV_WATCHDOG,
    VB_DEV_MEMBALLOON,
    VB_DEV_RNG,
    VB_DEV_PANIC,
    VB_DEV_FILESYSTEM, /* type= modelled, children kept (issue 10, part helpers) */
    VB_DEV_SOUND, /* devices (issue 10): <sound model=>, children kept */
    VB_DEV_UNKNOWN, /* kept verbatim in ->raw */
    VB_DEV_LAST
} VbDeviceKind;

/* A sub-element with a few attributes we read and the rest kept. */
typedef struct {
    gboolean present;
    VbExtra extra;
} VbSubElem;

typedef struct {
    VbDeviceKind kind;
    int rank; /* position in <devices>, from the device rank table */
    int line;
    VbRawElem *raw; /* VB_DEV_UNKNOWN only */

    char *type;  /* type= of disk/controller/interface/chardev/graphics/input */
    char *model; /* controller model=, <model type=> of interface/video, model= of others */
    VbExtra extra;
    VbDeviceAddress addr;

    /* disk */
    char *device; /* disk, cdrom, floppy */
    VbSubElem driver;
    char *driver_name;
    char *driver_type;
    VbSubElem source; /* disk, interface and chardev <source>: all attrs in extra */
    char *source_path;
    VbSubElem target; /* disk and chardev <target>; extra attrs */
    char *target_dev;
    char *bus; /* disk target bus, input bus */
    gboolean readonly;
    gboolean shareable;

    /* controller */
    guint index;
    int ports;   /* -1 unset */
    int vectors; /* -1 unset */

    /* interface */
    char *mac; /* canonical lowercase */
    VbSubElem mac_elem; /* <mac>: extra attrs (type=, check=) and children */
    VbSubElem model_elem; /* <model> of interface/video: extra attrs + children */

    /* serial/console/channel */
    char *target_type;
    int target_port; /* -1 unset */
    char *target_name;

    /* graphics */
    int port;     /* -1 unset */
    int autoport; /* -1 unset, 0 no, 1 yes */
    char *listen;
    char *passwd;

    /* video */
    guint vram;   /* 0 unset */
    guint heads;  /* 0 unset */
    int primary;  /* -1 unset */

    /* rng */
    VbSubElem backend;
    char *backend_model;
    char *backend_text;

    /* watchdog */
    char *action;
} VbDeviceDef;

typedef enum {
    VB_LIFECYCLE_DESTROY,
    VB_LIFECYCLE_RESTART,
    VB_LIFECYCLE_PRESERVE,
    VB_LIFECYCLE_RENAME_RESTART,
    VB_LIFECYCLE_COREDUMP_DESTROY,
    VB_LIFECYCLE_COREDUMP_RESTART,
    VB_LIFECYCLE_LAST
} VbLifecycleAction;

struct _VbDomainDefPrivate {
    int id; /* -1 when absent (inactive config) */
    VbExtra root_extra;
    char *metadata_xml; /* whole <metadata> element, verbatim; nullable */

    VbSubElem max_memory_elem; /* <maxMemory slots=> */
    guint64 max_memory_limit_kib;
    guint max_memory_slots;
    VbExtra memory_extra;
    VbExtra current_memory_extra;

    VbExtra vcpu_extra;
    char *vcpu_placement; /* static / auto */
    guint iothreads;

    /* <os> */
    VbExtra os_extra;
    char *os_type;
    char *os_arch;
    char *os_machine;
    VbExtra os_type_extra;
    GPtrArray *boot_devs; /* char* */
    VbSubElem loader;
    gboolean loader_readonly_set;
    char *loader_readonly;
    char *loader_type;
    char *loader_path;
    char *kernel;
    char *initrd;
    char *cmdline;

    /* <features> */
    gboolean has_features;
    gboolean acpi;
    gboolean apic;
    gboolean pae;
    VbExtra features_extra; /* other features, verbatim, in order */

    VbSubElem cpu;
    char *cpu_mode;

    VbSubElem clock;
    char *clock_offset;

    VbLifecycleAction on_poweroff;
    VbLifecycleAction on_reboot;
    VbLifecycleAction on_crash;

    VbExtra devices_extra; /* attributes of <devices> only */
    char *emulator;
    GPtrArray *devices; /* VbDeviceDef*, input order */

    /* CPU, memory, NUMA, iothreads, tuning (issue 10, part cpu): read views of kept
     * elements, see domain-def-cpu.h */
    VbDomainResources *resources;
    /* <memtune>, <cputune> scalars, <blkiotune>, <resource> (issue 14, part cgroup):
     * read view of kept elements, see domain-def-tune.h */
    VbDomainTune *tune;
};

/* enum tables (NULL terminated) */
extern const char *const vb_device_kind_names[];
extern const char *const vb_lifecycle_names[];

/* domain-def.c */
VbDomainDef *vb_domain_def_new(void);
void vb_device_def_free(VbDeviceDef *dev);
VbDeviceDef *vb_device_def_new(VbDeviceKind kind);
const char *vb_device_def_describe(const VbDeviceDef *dev);
int vb_enum_from_string(const char *const table[], const char *str);

/* domain-def-xml.c: generic XML helpers */
void vb_raw_elem_free(VbRawElem *raw);
VbRawElem *vb_raw_elem_new(xmlNode *node, int rank);
void vb_extra_clear(VbExtra *extra);
void vb_sub_elem_clear(VbSubElem *sub);
void vb_address_clear(VbDeviceAddress *addr);
void vb_sort_by_rank(GPtrArray *arr, int (*rank_of)(gconstpointer));
int vb_rank_lookup(const char *const table[], const char *name);
gboolean vb_xml_is(const xmlNode *node, const char *name);
xmlNode *vb_xml_child(xmlNode *parent, const char *name);
xmlNode *vb_xml_insert_child(xmlNode *parent, const char *name, const char *const after[]);
char *vb_xml_prop(xmlNode *node, const char *name);
char *vb_xml_text(xmlNode *node);
xmlDoc *vb_xml_read_memory(const char *xml, gsize max_bytes, const char *what,
                           const char *malformed, const char *filename, GError **error);
void vb_extra_collect(VbExtra *extra, xmlNode *node, const char *const known_attrs[],
                      const char *const modelled_children[], const char *const ranks[]);
void vb_xml_escape(GString *buf, const char *str, gboolean attr, gboolean raw);
void vb_fmt_indent(GString *buf, int level);
int vb_fmt_push_base(int levels);
void vb_fmt_pop_base(int old);
void vb_fmt_empty_elem(GString *buf, int level, const char *name);
void vb_fmt_attr(GString *buf, const char *name, const char *value);
void vb_fmt_extra_attrs(GString *buf, const VbExtra *extra);
void vb_fmt_raw(GString *buf, const VbRawElem *raw, int level);
void vb_fmt_raws_before(GString *buf, const VbExtra *extra, int rank, int level, guint *cursor);
void vb_fmt_close(GString *buf, int level, const char *name, GString *children);
void vb_fmt_text_elem(GString *buf, int level, const char *name, const char *text);
void vb_fmt_sub_elem(GString *buf, int level, const char *name, const VbSubElem *sub,
                     const char *first_attrs[]);
void vb_fmt_attrs_ordered(GString *buf, const char *const order[], const char *const modelled[],
                          const VbExtra *extra);
void vb_fmt_address(GString *buf, const VbDeviceAddress *addr, int level);
char *vb_address_to_string(const VbDeviceAddress *addr);
gboolean vb_address_equal(const VbDeviceAddress *a, const VbDeviceAddress *b);

/* error helpers */
void vb_set_error_line(GError **error, int code, const xmlNode *node, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
gboolean vb_xml_check_unique(xmlNode *parent, const char *const names[], GError **error);
void vb_extra_keep_repeats(VbExtra *extra, xmlNode *parent, const char *name,
                           const char *const ranks[]);
gboolean vb_xml_parse_uint(xmlNode *node, const char *attr, const char *str, guint max,
                           guint *out, GError **error);
gboolean vb_xml_prop_enum(xmlNode *node, const char *attr, const char *const table[],
                          gboolean required, char **out, GError **error);
gboolean vb_xml_prop_yesno(xmlNode *node, const char *attr, const char *yes, const char *no,
                           int *out, GError **error);

/* domain-def-parse-devices.c */
gboolean vb_domain_def_parse_devices(VbDomainDef *def, xmlNode *devices, GError **error);
/* hotplug (issue 13, part hotplug) */
VbDeviceDef *vb_domain_def_parse_one_device(VbDomainDef *def, xmlNode *node, GError **error);
gboolean vb_address_parse(VbDeviceAddress *addr, xmlNode *node, GError **error);
gboolean vb_controller_is_usb2(const VbDeviceDef *dev);
const VbRawElem *vb_controller_master(const VbDeviceDef *dev);

/* domain-def-format.c */
void vb_domain_def_format_devices(GString *buf, const VbDomainDef *def, guint flags);
const char *const *vb_device_child_ranks(VbDeviceKind kind);
gboolean vb_device_is_implicit_controller(const VbDomainDef *def, const VbDeviceDef *dev);

/* domain-def-validate.c */
gboolean vb_domain_def_validate(VbDomainDef *def, GError **error);
gboolean vb_mac_parse(const char *str, char **out_canonical);
gboolean vb_listen_address_valid(const char *addr);
const VbDeviceDef *vb_domain_def_serial_console(const VbDomainDef *def);

/* domain-def-query.c */
const char *vb_extra_get_attr(const VbExtra *extra, const char *name);
xmlDoc *vb_raw_elem_parse(const VbRawElem *raw);
char *vb_raw_elem_get_attr(const VbRawElem *raw, const char *name);
gboolean vb_domain_def_is_q35(const VbDomainDef *def);
gboolean vb_domain_def_q35_has_builtin_fdc(const VbDomainDef *def);

/* domain-def-cpu.c */
VbDomainResources *vb_domain_resources_new(void);
void vb_domain_resources_free(VbDomainResources *r);
gboolean vb_domain_def_parse_resources(VbDomainDef *def, xmlNode *root, GError **error);
gboolean vb_domain_tune_parse(xmlNode *root, VbDomainTune **out_tune, GError **error);
gboolean vb_domain_def_numa_memory_kib(xmlNode *root, guint64 *out_kib, GError **error);
guint64 vb_domain_def_hotplug_memory_kib(xmlNode *root);
char *vb_domain_resources_cpu_abi(const VbDomainResources *r);
char *vb_domain_resources_numa_abi(const VbDomainResources *r);

/* domain-def-addresses.c */
gboolean vb_device_needs_pci(const VbDomainDef *def, const VbDeviceDef *dev);
const VbDeviceDef *vb_domain_def_primary_video(const VbDomainDef *def);

/* domain-def-pci.c */
gboolean vb_domain_def_assign_pci(VbDomainDef *def, GError **error);
/* domain-def-runtime.c (issue 10, part live): the device's QEMU id and live <alias> */
char *vb_domain_def_device_alias(const VbDomainDef *def, const VbDeviceDef *dev);

/* libvirt's order of children (domain-def-parse.c), NULL terminated */
extern const char *const vb_top_ranks[];
extern const char *const vb_os_ranks[];
extern const char *const vb_features_ranks[];
extern const char *const vb_cpu_ranks[];
extern const char *const vb_device_ranks[];
extern const char *const vb_disk_ranks[];
extern const char *const vb_controller_ranks[];
extern const char *const vb_interface_ranks[];
extern const char *const vb_chardev_ranks[];
extern const char *const vb_generic_dev_ranks[];
extern const char *const vb_video_ranks[];
extern const char *const vb_rng_ranks[];
extern const char *const vb_filesystem_ranks[];
extern const char *const vb_sound_ranks[];

#define VB_RANK(table, name) vb_rank_lookup(table, name)
