/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * What one QEMU binary can do, probed once over QMP
 * (`-machine none -nodefaults -S -qmp`) and cached per binary (path, size,
 * mtime) under <data_dir>/caps. Immutable once built: share it by
 * reference. A running domain keeps the caps it was started with.
 */
typedef struct {
    char *name;      /* e.g. "pc-q35-7.2" */
    char *alias;     /* e.g. "q35", or NULL */
    gboolean is_default;
    guint max_cpus;
    gboolean deprecated;
} VbQemuMachine;

typedef struct {
    gint refcount;
    char *binary;     /* absolute path */
    gint64 size;
    gint64 mtime;
    char *arch;       /* from the binary name / query-target: "x86_64" */
    guint version;    /* major * 1000000 + minor * 1000 + micro */
    char *package;    /* QEMU's package string */
    GPtrArray *machines;   /* VbQemuMachine* */
    GHashTable *commands;  /* set: QMP command names */
    GHashTable *events;    /* set: QMP event names */
    GHashTable *devices;   /* set: device type names (qom-list-types implements=device) */
    gboolean kvm_available; /* /dev/kvm opens and query-kvm says present; says nothing
                               about guests running (see shared/guest/README.md) */
    gboolean tcg_available; /* the binary has TCG (some builds, e.g. Debian's
                               qemu-system-x86_64-microvm, are KVM-only) */
    /* CPU models under TCG (issue 10, part cpu), from query-cpu-definitions and the
     * expansion of "max" in the probe (which runs TCG); empty when not probed */
    GHashTable *tcg_cpu_models;   /* name -> char*: its unavailable features, ' '-separated */
    GHashTable *tcg_cpu_features; /* set: the features TCG can provide ("max" expanded) */
    GHashTable *cpu_features;     /* set: every CPU feature QEMU knows ("max" expanded, on
                                     or off); empty when unknown (an older cache) */
    GHashTable *audiodevs;  /* set: -audiodev drivers this build can load (`-audiodev
                               help`: Debian's pa, sdl, jack are modules of another
                               package); empty when unknown (an older cache) */
    int sandbox;            /* -sandbox (QEMU built with seccomp): 1/0; -1 unknown (a cache
                               written before issue 14: probed again) */
    char *xml;              /* vb_qemu_caps_get_xml(): formatted once (issue 16) */
} VbQemuCaps;

VbQemuCaps *vb_qemu_caps_ref(VbQemuCaps *caps);
void vb_qemu_caps_unref(VbQemuCaps *caps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuCaps, vb_qemu_caps_unref)

/* Empty caps with every set allocated (for probes, parsers and tests). */
VbQemuCaps *vb_qemu_caps_new(void);
/* Runs the binary and asks it over QMP, bypassing the caches. Workers only. */
VbQemuCaps *vb_qemu_caps_probe(const char *binary, GError **error);
/* How many probes this process ran (tests check cache hits with it). */
guint vb_qemu_caps_probe_count(void);

/* Probes or loads from cache. Blocking (up to a few hundred ms): workers only. */
VbQemuCaps *vb_qemu_caps_get(const char *binary, const char *cache_dir, GError **error);
gboolean vb_qemu_caps_has_device(const VbQemuCaps *caps, const char *device);
gboolean vb_qemu_caps_has_command(const VbQemuCaps *caps, const char *command);
gboolean vb_qemu_caps_has_event(const VbQemuCaps *caps, const char *event);
/* Resolves an alias ("q35") or full name; NULL = default machine. Returns NULL if unknown. */
const VbQemuMachine *vb_qemu_caps_find_machine(const VbQemuCaps *caps, const char *name);

/* Serialize for the status XML / cache, and back. */
char *vb_qemu_caps_to_xml(const VbQemuCaps *caps);
const char *vb_qemu_caps_get_xml(VbQemuCaps *caps);
VbQemuCaps *vb_qemu_caps_from_xml(const char *xml, GError **error);

/* Manager.GetCapabilities: host + every binary on PATH (probed/cached). */
char *vb_qemu_caps_host_xml(const char *host_uuid, const char *cache_dir, GError **error);
GPtrArray *vb_qemu_caps_find_binaries(void);
/* The emulator for @arch found on PATH (qemu-system-<arch>), or NULL. */
char *vb_qemu_caps_default_binary(const char *arch);

/* Whether KVM really runs a guest of @binary here (qemu-kvm-probe.c); cached. */
gboolean vb_qemu_kvm_usable(const char *binary, const char **out_reason);
/* child_setup of a probe's QEMU: dies with its prober (qemu-caps-probe.c) */
void vb_qemu_probe_child_setup(gpointer parent_pid);

G_END_DECLS
