/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PCI addresses at define time, as libvirt's qemuDomainAssignPCIAddresses() places them.
 *
 * Buses are the PCI controllers, numbered by their index. What a bus takes:
 *  - pci-root (i440fx bus 0), pci-bridge, pcie-to-pci-bridge, dmi-to-pci-bridge,
 *    pci-expander-bus: conventional PCI devices, slots 1-31 (dmi and pxb 0-31);
 *  - pcie-root (q35 bus 0): pcie-root-ports (several per slot, one per function),
 *    dmi-to-pci-bridge, expander buses; devices only with an explicit address;
 *  - pcie-root-port, pcie-switch-downstream-port: one PCIe device in slot 0;
 *  - pcie-switch-upstream-port: downstream ports, slots 0-31;
 *  - pcie-expander-bus: root ports in slot 0.
 * Reserved: slot 0 of bus 0; i440fx slot 1 (PIIX3: ide 01.1, usb 01.2) and slot 2 for the
 * primary video; q35 slot 1 for the primary video (only when there is one), 1f.0-1f.3
 * (LPC, SATA 1f.2, SMBus) and 1d for the first USB2 set.
 *
 * Devices are placed in libvirt's order: PCI controllers (by index), filesystems, interfaces,
 * controllers (USB2 companions share one slot: ehci1 function 7, uhci1/2/3 functions 0-2),
 * virtio disks, memballoon, rng, i6300esb watchdog, videos, virtio inputs, pci-serial.
 * On q35 PCIe devices (virtio, xhci, ahci, e1000e) get a pcie-root-port each, conventional
 * PCI devices go behind a pcie-to-pci-bridge; on i440fx a pci-bridge is added when bus 0
 * is full (keeping one slot free for a later bridge). Missing controllers are added in a
 * first pass, then everything is placed in a second one; when controllers were added to a
 * q35 domain that had none, one more root port is added for hotplug. Function 0 of a slot
 * with other functions in use gets multifunction='on' unless it says 'off'.
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

typedef enum {
    CONN_PCI = 1 << 0,       /* conventional PCI device */
    CONN_PCIE = 1 << 1,      /* PCIe endpoint */
    CONN_ROOT_PORT = 1 << 2, /* pcie-root-port, dmi-to-pci-bridge, expander buses */
    CONN_DOWNSTREAM = 1 << 3,
    CONN_UPSTREAM = 1 << 4,
    CONN_PCI_BRIDGE = 1 << 5,   /* pci-bridge */
    CONN_PCIE_BRIDGE = 1 << 6,  /* pcie-to-pci-bridge */
} Conn;

typedef struct {
    gboolean present;
    const VbDeviceDef *ctl; /* NULL for an implicit root */
    guint accepts;          /* Conn mask for automatic placement */
    guint min_slot;
    guint max_slot;
    guint8 used[32];     /* bit per function */
    guint8 aggregate[32]; /* functions used by root ports that share a slot */
} Bus;

typedef struct {
    VbDomainDef *def;
    gboolean q35;
    gboolean grow; /* first pass: add the controllers that are missing */
    gboolean added;
    gboolean placed[VB_CONTROLLER_INDEX_MAX + 1]; /* first pass: grown controllers */
    gboolean usb2_done[VB_CONTROLLER_INDEX_MAX + 1]; /* USB2 sets that have their slot */
    Bus bus[VB_CONTROLLER_INDEX_MAX + 1];
} Pci;

static int
dev_rank(gconstpointer p)
{
    return ((const VbDeviceDef *)p)->rank;
}

static const char *
ctl_model(const VbDeviceDef *dev)
{
    return dev->model != NULL ? dev->model : "";
}

static gboolean
is_pci_ctl(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, "pci") == 0;
}

static void
bus_set_model(Bus *b, const char *model, gboolean q35)
{
    b->present = TRUE;
    b->min_slot = 1;
    b->max_slot = 31;
    if (strcmp(model, "pcie-root") == 0) {
        b->accepts = CONN_ROOT_PORT;
    } else if (strcmp(model, "pcie-root-port") == 0 ||
               strcmp(model, "pcie-switch-downstream-port") == 0) {
        b->accepts = CONN_PCIE | CONN_PCIE_BRIDGE | CONN_UPSTREAM;
        b->min_slot = b->max_slot = 0;
    } else if (strcmp(model, "pcie-switch-upstream-port") == 0) {
        b->accepts = CONN_DOWNSTREAM;
        b->min_slot = 0;
    } else if (strcmp(model, "pcie-expander-bus") == 0) {
        b->accepts = CONN_ROOT_PORT;
        b->min_slot = b->max_slot = 0;
    } else if (strcmp(model, "pci-expander-bus") == 0 ||
               strcmp(model, "dmi-to-pci-bridge") == 0) {
        b->accepts = CONN_PCI | CONN_PCI_BRIDGE | (q35 ? 0 : CONN_PCIE);
        b->min_slot = 0;
    } else {
        /* pci-root, pci-bridge, pcie-to-pci-bridge, dmi-to-pci-bridge */
        b->accepts = CONN_PCI | CONN_PCI_BRIDGE | (q35 ? 0 : CONN_PCIE);
    }
}

/* how a device plugs in; 0 when it has no PCI address */
static guint
device_conn(const Pci *p, const VbDeviceDef *dev)
{
    const char *m = dev->model != NULL ? dev->model : "";

    if (is_pci_ctl(dev)) {
        if (strcmp(m, "pcie-root-port") == 0 || strcmp(m, "dmi-to-pci-bridge") == 0 ||
            strcmp(m, "pcie-expander-bus") == 0)
            return CONN_ROOT_PORT;
        if (strcmp(m, "pci-expander-bus") == 0)
            return p->q35 ? CONN_ROOT_PORT : CONN_PCI_BRIDGE;
        if (strcmp(m, "pcie-switch-downstream-port") == 0)
            return CONN_DOWNSTREAM;
        if (strcmp(m, "pcie-switch-upstream-port") == 0)
            return CONN_UPSTREAM;
        if (strcmp(m, "pcie-to-pci-bridge") == 0)
            return CONN_PCIE_BRIDGE;
        if (strcmp(m, "pci-bridge") == 0)
            return CONN_PCI_BRIDGE;
        return 0;
    }
    if (!vb_device_needs_pci(p->def, dev))
        return 0;
    if (!p->q35)
        return CONN_PCI;
    if (g_str_has_suffix(m, "-transitional") && !g_str_has_suffix(m, "non-transitional"))
        return CONN_PCI;
    switch (dev->kind) {
    case VB_DEV_DISK:
    case VB_DEV_MEMBALLOON:
    case VB_DEV_RNG:
    case VB_DEV_INPUT:
    case VB_DEV_FILESYSTEM:
        return CONN_PCIE;
    case VB_DEV_INTERFACE:
        return g_str_has_prefix(m, "virtio") || strcmp(m, "e1000e") == 0 ||
                       strcmp(m, "vmxnet3") == 0
                   ? CONN_PCIE
                   : CONN_PCI;
    case VB_DEV_CONTROLLER:
        if (strcmp(dev->type, "usb") == 0)
            return strstr(m, "xhci") != NULL ? CONN_PCIE : CONN_PCI;
        if (strcmp(dev->type, "scsi") == 0)
            return g_str_has_prefix(m, "virtio") ? CONN_PCIE : CONN_PCI;
        return CONN_PCIE; /* virtio-serial, sata */
    case VB_DEV_VIDEO:
        return strcmp(m, "virtio") == 0 ? CONN_PCIE : CONN_PCI;
    default:
        return CONN_PCI;
    }
}

static void
reserve(Pci *p, const VbDeviceAddress *a, gboolean aggregate)
{
    Bus *b;

    if (a->bus > VB_CONTROLLER_INDEX_MAX || a->slot > 31 || a->function > 7)
        return;
    b = &p->bus[a->bus];
    b->used[a->slot] |= 1 << a->function;
    if (aggregate)
        b->aggregate[a->slot] |= 1 << a->function;
}

static void
set_pci(VbDeviceAddress *addr, guint bus, guint slot, guint function)
{
    addr->type = VB_ADDR_PCI;
    addr->pci_set = TRUE;
    addr->domain = 0;
    addr->bus = bus;
    addr->slot = slot;
    addr->function = function;
}

/* a free address for @conn on an existing bus; FALSE when there is none */
static gboolean
find_free(Pci *p, guint conn, guint *out_bus, guint *out_slot, guint *out_fn)
{
    for (guint i = 0; i <= VB_CONTROLLER_INDEX_MAX; i++) {
        Bus *b = &p->bus[i];

        if (!b->present || !(b->accepts & conn))
            continue;
        for (guint slot = b->min_slot; slot <= b->max_slot; slot++) {
            guint8 used = b->used[slot];

            if (conn == CONN_ROOT_PORT && used != 0xff && (used & ~b->aggregate[slot]) == 0) {
                guint fn = 0;

                while (used & (1 << fn))
                    fn++;
                *out_bus = i, *out_slot = slot, *out_fn = fn;
                return TRUE;
            }
            if (used == 0) {
                *out_bus = i, *out_slot = slot, *out_fn = 0;
                return TRUE;
            }
        }
    }
    return FALSE;
}

static guint
next_pci_index(const VbDomainDef *def)
{
    guint index = 0;
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (is_pci_ctl(d) && d->index >= index)
            index = d->index + 1;
    }
    return index;
}

static gboolean take(Pci *p, guint conn, guint *out_bus, guint *out_slot, guint *out_fn,
                     GError **error);

/*
 * first pass: a new controller for @conn. As libvirt's virDomainPCIAddressSetGrow(), a new
 * pci-bridge or pcie-root-port takes its own slot only in the second pass (i440fx keeps a
 * slot for it, pcie.0 has room for 248 root ports); a pcie-to-pci-bridge needs a root port.
 */
static gboolean
grow(Pci *p, guint conn, GError **error)
{
    const char *model = conn != CONN_PCI ? "pcie-root-port"
                        : p->q35         ? "pcie-to-pci-bridge"
                                         : "pci-bridge";
    guint index;
    VbDeviceDef *ctl;
    guint bus, slot, fn;

    if ((conn != CONN_PCI && conn != CONN_PCIE && conn != CONN_PCIE_BRIDGE) ||
        (conn != CONN_PCI && !p->q35))
        return FALSE;
    /* the root port a new pcie-to-pci-bridge plugs into comes first, so the parent has
     * the lower index, as libvirt adds them (QEMU creates the buses in index order) */
    if (strcmp(model, "pcie-to-pci-bridge") == 0 &&
        !find_free(p, CONN_PCIE_BRIDGE, &bus, &slot, &fn) && !grow(p, CONN_PCIE_BRIDGE, error))
        return FALSE;
    index = next_pci_index(p->def);
    if (index > VB_CONTROLLER_INDEX_MAX)
        return FALSE;
    ctl = vb_device_def_new(VB_DEV_CONTROLLER);
    ctl->rank = vb_rank_lookup(vb_device_ranks, "controller");
    ctl->type = g_strdup("pci");
    ctl->index = index;
    ctl->model = g_strdup(model);
    /* appended: place_all() is iterating over the list; sorted after the first pass */
    g_ptr_array_add(p->def->priv->devices, ctl);
    bus_set_model(&p->bus[index], model, p->q35);
    p->bus[index].ctl = ctl;
    p->added = TRUE;
    p->placed[index] = TRUE;
    if (strcmp(model, "pcie-to-pci-bridge") != 0)
        return TRUE;
    return take(p, CONN_PCIE_BRIDGE, &bus, &slot, &fn, error);
}

static gboolean
take(Pci *p, guint conn, guint *out_bus, guint *out_slot, guint *out_fn, GError **error)
{
    for (guint tries = 0; tries < 3; tries++) {
        if (find_free(p, conn, out_bus, out_slot, out_fn)) {
            VbDeviceAddress a = { .bus = *out_bus, .slot = *out_slot, .function = *out_fn };

            if (conn == CONN_ROOT_PORT)
                reserve(p, &a, TRUE);
            else
                p->bus[a.bus].used[a.slot] = 0xff;
            return TRUE;
        }
        if (!p->grow || !grow(p, conn, error))
            break;
    }
    return FALSE;
}

static gboolean
place(Pci *p, VbDeviceDef *dev, GError **error)
{
    guint conn = device_conn(p, dev);
    guint bus, slot, fn;

    if (conn == 0 || dev->addr.type != VB_ADDR_NONE)
        return TRUE;
    if (!take(p, conn, &bus, &slot, &fn, error)) {
        if (error != NULL && *error != NULL)
            return FALSE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "line %d: <%s>: no free PCI slot for it%s", dev->line,
                    vb_device_def_describe(dev),
                    p->q35 ? " (add a <controller type='pci' model='pcie-root-port'/>)"
                           : " (add a <controller type='pci' model='pci-bridge'/>)");
        return FALSE;
    }
    if (!p->grow)
        set_pci(&dev->addr, bus, slot, fn);
    return TRUE;
}

/* the slot of the USB2 set @dev belongs to, if another member already has one */
static const VbDeviceDef *
usb2_placed_peer(const VbDomainDef *def, const VbDeviceDef *dev)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d != dev && vb_controller_is_usb2(d) && d->index == dev->index &&
            d->addr.type == VB_ADDR_PCI && d->addr.pci_set)
            return d;
    }
    return NULL;
}

static guint
usb2_function(const VbDeviceDef *dev)
{
    if (strcmp(dev->model, "ich9-ehci1") == 0)
        return 7;
    return (guint)(dev->model[strlen(dev->model) - 1] - '1'); /* uhci1..3: 0..2 */
}

static gboolean
place_usb2(Pci *p, VbDeviceDef *dev, GError **error)
{
    const VbDeviceDef *peer = usb2_placed_peer(p->def, dev);
    guint fn = usb2_function(dev);
    guint bus, slot, unused;

    if (dev->addr.type != VB_ADDR_NONE)
        return TRUE;
    if (peer == NULL && p->grow && p->usb2_done[dev->index])
        return TRUE;
    p->usb2_done[dev->index] = TRUE;
    if (peer != NULL) {
        bus = peer->addr.bus;
        slot = peer->addr.slot;
    } else if (!take(p, device_conn(p, dev), &bus, &slot, &unused, error)) {
        if (error != NULL && *error != NULL)
            return FALSE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "line %d: <controller>: no free PCI slot for the USB2 controllers",
                    dev->line);
        return FALSE;
    }
    if (p->grow)
        return TRUE;
    set_pci(&dev->addr, bus, slot, fn);
    if (fn == 0)
        dev->addr.multifunction = 1;
    p->bus[bus].used[slot] = 0xff;
    return TRUE;
}

/* libvirt's order of device kinds in qemuDomainAssignDevicePCISlots() */
static const VbDeviceKind place_order[] = {
    VB_DEV_FILESYSTEM, VB_DEV_INTERFACE, VB_DEV_SOUND, VB_DEV_CONTROLLER, VB_DEV_DISK,
    VB_DEV_MEMBALLOON, VB_DEV_RNG,       VB_DEV_WATCHDOG, VB_DEV_VIDEO,   VB_DEV_INPUT,
    VB_DEV_SERIAL,
};

/* "vdb" after "vda", "vdaa" after "vdz" */
static int
disk_cmp(gconstpointer a, gconstpointer b)
{
    const VbDeviceDef *x = *(const VbDeviceDef *const *)a;
    const VbDeviceDef *y = *(const VbDeviceDef *const *)b;
    size_t lx = strlen(x->target_dev), ly = strlen(y->target_dev);

    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->target_dev, y->target_dev);
}

static gboolean
place_all(Pci *p, GError **error)
{
    GPtrArray *devs = p->def->priv->devices;

    /* PCI controllers by index (new ones are added at the end of the list) */
    for (guint index = 1; index <= VB_CONTROLLER_INDEX_MAX; index++) {
        VbDeviceDef *ctl = (VbDeviceDef *)p->bus[index].ctl;

        if (ctl != NULL && !p->placed[index] && !place(p, ctl, error))
            return FALSE;
    }
    g_autoptr(GPtrArray) disks = g_ptr_array_new();

    /* libvirt keeps the disks of one bus sorted by target name (virDomainDiskInsert) */
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_DISK)
            g_ptr_array_add(disks, dev);
    }
    g_ptr_array_sort(disks, disk_cmp);
    for (guint k = 0; k < G_N_ELEMENTS(place_order); k++) {
        GPtrArray *list = place_order[k] == VB_DEV_DISK ? disks : devs;

        for (guint i = 0; i < list->len; i++) {
            VbDeviceDef *dev = g_ptr_array_index(list, i);

            if (dev->kind != place_order[k] || is_pci_ctl(dev))
                continue;
            if (dev->kind == VB_DEV_CONTROLLER && vb_controller_is_usb2(dev)) {
                if (!place_usb2(p, dev, error))
                    return FALSE;
            } else if (!place(p, dev, error)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* PCI slot + function a device has fixed by the machine type, or FALSE */
static gboolean
builtin_pci(const Pci *p, const VbDeviceDef *dev, guint *slot, guint *function)
{
    if (dev->kind != VB_DEV_CONTROLLER || dev->index != 0)
        return FALSE;
    if (p->q35) {
        if (strcmp(dev->type, "sata") == 0)
            return *slot = 0x1f, *function = 2, TRUE;
        return FALSE;
    }
    if (strcmp(dev->type, "ide") == 0)
        return *slot = 1, *function = 1, TRUE;
    if (strcmp(dev->type, "usb") == 0 && g_strcmp0(dev->model, "piix3-uhci") == 0)
        return *slot = 1, *function = 2, TRUE;
    return FALSE;
}

static gboolean
slot_free(const Pci *p, guint bus, guint slot)
{
    return p->bus[bus].present && p->bus[bus].used[slot] == 0;
}

static gboolean
has_graphics(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        if (((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_GRAPHICS)
            return TRUE;
    }
    return FALSE;
}

/* fresh bus state: the controllers, explicit addresses and what the machine reserves (the
 * fixed addresses of built-in controllers, the primary video and the first q35 USB2 set are
 * set already in the first pass: they are the same in both) */
static void
pci_init(Pci *p, VbDomainDef *def, gboolean grow_mode)
{
    GPtrArray *devs = def->priv->devices;
    VbDeviceDef *video = (VbDeviceDef *)vb_domain_def_primary_video(def);
    gboolean has_video = video != NULL && vb_device_needs_pci(def, video);

    memset(p, 0, sizeof(*p));
    p->def = def;
    p->q35 = vb_domain_def_is_q35(def);
    p->grow = grow_mode;
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (is_pci_ctl(dev) && dev->index <= VB_CONTROLLER_INDEX_MAX) {
            bus_set_model(&p->bus[dev->index], ctl_model(dev), p->q35);
            p->bus[dev->index].ctl = dev;
        }
    }
    if (!p->bus[0].present)
        bus_set_model(&p->bus[0], p->q35 ? "pcie-root" : "pci-root", p->q35);
    p->bus[0].ctl = NULL;
    p->bus[0].used[0] = 0xff;
    if (p->q35) {
        p->bus[0].used[0x1f] |= 0x0f;
    } else {
        p->bus[0].used[1] = 0xff;
    }
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        guint slot, function;

        if (dev->addr.type == VB_ADDR_NONE && builtin_pci(p, dev, &slot, &function))
            set_pci(&dev->addr, 0, slot, function);
        if (vb_controller_is_usb2(dev) && dev->addr.type != VB_ADDR_NONE)
            p->usb2_done[dev->index] = TRUE;
        if (dev->addr.type == VB_ADDR_PCI && dev->addr.pci_set && dev->addr.domain == 0)
            reserve(p, &dev->addr, is_pci_ctl(dev) && device_conn(p, dev) == CONN_ROOT_PORT);
    }
    /* the primary video: i440fx slot 2 (kept free without video, as libvirt), q35 slot 1 */
    if (has_video && video->addr.type == VB_ADDR_NONE && slot_free(p, 0, p->q35 ? 1 : 2)) {
        set_pci(&video->addr, 0, p->q35 ? 1 : 2, 0);
        p->bus[0].used[p->q35 ? 1 : 2] = 0xff;
    } else if (!p->q35 && has_graphics(def)) {
        /* libvirt adds a video for the display there */
        p->bus[0].used[2] |= 0x80;
    }
    /* q35: the first USB2 set sits at 1d (or 1a) */
    for (guint i = 0; p->q35 && i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (vb_controller_is_usb2(dev) && strcmp(dev->model, "ich9-uhci1") == 0 &&
            dev->addr.type == VB_ADDR_NONE && usb2_placed_peer(def, dev) == NULL) {
            guint slot = slot_free(p, 0, 0x1d) ? 0x1d : slot_free(p, 0, 0x1a) ? 0x1a : 0;

            if (slot == 0)
                continue;
            p->bus[0].used[slot] = 0xff;
            p->usb2_done[dev->index] = TRUE;
            set_pci(&dev->addr, 0, slot, 0);
            dev->addr.multifunction = 1;
        }
    }
    /* q35: ICH9 has its HD audio at 00:1b.0; the first unaddressed ich9 sound goes there
     * when it is free, as libvirt does */
    for (guint i = 0; p->q35 && slot_free(p, 0, 0x1b) && i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_SOUND && g_strcmp0(dev->model, "ich9") == 0 &&
            dev->addr.type == VB_ADDR_NONE) {
            set_pci(&dev->addr, 0, 0x1b, 0);
            p->bus[0].used[0x1b] = 0xff;
        }
    }
}

/* a kept child element made from @xml */
static void
add_child(VbDeviceDef *dev, const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;

    if (root == NULL) {
        xmlFreeDoc(doc);
        return;
    }
    if (dev->extra.children == NULL)
        dev->extra.children = g_ptr_array_new_with_free_func((GDestroyNotify)vb_raw_elem_free);
    g_ptr_array_add(dev->extra.children,
                    vb_raw_elem_new(root, vb_rank_lookup(vb_controller_ranks,
                                                         (const char *)root->name)));
    xmlFreeDoc(doc);
}

static gboolean
has_child(const VbDeviceDef *dev, const char *name)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        if (strcmp(((const VbRawElem *)g_ptr_array_index(ch, i))->name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

static int
raw_rank(gconstpointer p)
{
    return ((const VbRawElem *)p)->rank;
}

/* <model name=> and <target> libvirt writes for PCI controllers (qemuDomainPCIController*);
 * @lowest_bus_nr: the lowest busNr in use; an expander bus without <target> takes the one 2
 * below it (qemuDomainAddressFindNewBusNr), which becomes the lowest */
static void
fill_pci_controller(VbDeviceDef *dev, int *lowest_bus_nr)
{
    static const char *const names[] = {
        "pci-bridge", "pci-bridge", "pcie-root-port", "pcie-root-port",
        "pcie-to-pci-bridge", "pcie-pci-bridge", "dmi-to-pci-bridge", "i82801b11-bridge",
        "pcie-switch-upstream-port", "x3130-upstream",
        "pcie-switch-downstream-port", "xio3130-downstream", "pci-expander-bus", "pxb",
        "pcie-expander-bus", "pxb-pcie", NULL
    };
    const char *m = ctl_model(dev);
    g_autofree char *target = NULL;

    for (guint i = 0; names[i] != NULL; i += 2) {
        if (strcmp(names[i], m) == 0 && !has_child(dev, "model")) {
            g_autofree char *xml = g_strdup_printf("<model name='%s'/>", names[i + 1]);
            add_child(dev, xml);
        }
    }
    if (has_child(dev, "target"))
        goto out;
    if (strcmp(m, "pci-expander-bus") == 0 || strcmp(m, "pcie-expander-bus") == 0) {
        *lowest_bus_nr -= 2;
        target = g_strdup_printf("<target busNr='%d'/>", *lowest_bus_nr);
    }
    if ((strcmp(m, "pcie-root-port") == 0 || strcmp(m, "pcie-switch-downstream-port") == 0) &&
        dev->addr.type == VB_ADDR_PCI && dev->addr.pci_set && target == NULL)
        target = g_strdup_printf("<target chassis='%u' port='0x%x'/>", dev->index,
                                 dev->addr.slot << 3 | dev->addr.function);
    if (target == NULL && strcmp(m, "pci-bridge") == 0)
        target = g_strdup_printf("<target chassisNr='%u'/>", dev->index);
    if (target != NULL)
        add_child(dev, target);
out:
    if (dev->extra.children != NULL)
        vb_sort_by_rank(dev->extra.children, raw_rank);
}

/* the lowest busNr of the expander buses' <target>s, 256 when there is none. Scanned once
 * per assignment: each <target> is an XML parse, and a definition may hold 256
 * controllers */
static int
lowest_bus_nr(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    int lowest = 256;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        GPtrArray *ch = d->extra.children;

        for (guint k = 0; is_pci_ctl(d) && ch != NULL && k < ch->len; k++) {
            g_autofree char *v = NULL;
            gint64 nr;

            if (strcmp(((VbRawElem *)g_ptr_array_index(ch, k))->name, "target") != 0 ||
                (v = vb_raw_elem_get_attr(g_ptr_array_index(ch, k), "busNr")) == NULL)
                continue;
            /* a bus number out of the byte QEMU takes says nothing about the free ones */
            nr = g_ascii_strtoll(v, NULL, 0);
            if (nr >= 0 && nr < lowest)
                lowest = (int)nr;
        }
    }
    return lowest;
}

/* function 0 of a slot with more functions in use is multifunction (unless it says off) */
static void
set_multifunction(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    g_autoptr(GHashTable) slots = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceAddress *a = &((const VbDeviceDef *)g_ptr_array_index(devs, i))->addr;

        if (a->type == VB_ADDR_PCI && a->pci_set && a->function != 0)
            g_hash_table_add(slots, g_strdup_printf("%x:%x:%x", a->domain, a->bus, a->slot));
    }
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceAddress *a = &((VbDeviceDef *)g_ptr_array_index(devs, i))->addr;
        g_autofree char *key = NULL;

        if (a->type != VB_ADDR_PCI || !a->pci_set || a->function != 0 || a->multifunction != -1)
            continue;
        key = g_strdup_printf("%x:%x:%x", a->domain, a->bus, a->slot);
        if (g_hash_table_contains(slots, key))
            a->multifunction = 1;
    }
}

static gboolean
buses_full(const Pci *p)
{
    for (guint i = 0; i <= VB_CONTROLLER_INDEX_MAX; i++) {
        const Bus *b = &p->bus[i];

        for (guint slot = b->min_slot; b->present && slot <= b->max_slot; slot++) {
            if (b->used[slot] == 0)
                return FALSE;
        }
    }
    return TRUE;
}

/* PCI controller models the machine type can take: PCI Express ones only on q35, the root
 * of the machine at index 0 only */
static gboolean
check_pci_models(const Pci *p, GError **error)
{
    static const char *const pcie_only[] = { "pcie-root", "pcie-root-port",
                                             "pcie-switch-upstream-port",
                                             "pcie-switch-downstream-port",
                                             "pcie-to-pci-bridge", "dmi-to-pci-bridge",
                                             "pcie-expander-bus", NULL };
    GPtrArray *devs = p->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *m;
        gboolean root;

        if (!is_pci_ctl(dev))
            continue;
        m = ctl_model(dev);
        root = strcmp(m, "pci-root") == 0 || strcmp(m, "pcie-root") == 0;
        if (root != (dev->index == 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <controller>: PCI controller index %u cannot have model "
                        "'%s' (index 0 is the root bus, pci-root or pcie-root, and only it)",
                        dev->line, dev->index, m);
            return FALSE;
        }
        if (p->q35 ? strcmp(m, "pci-root") == 0 : g_strv_contains(pcie_only, m)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <controller>: PCI controller model '%s' is not supported on "
                        "a %s machine type", dev->line, m,
                        p->q35 ? "PCI Express (q35)" : "PCI (i440fx)");
            return FALSE;
        }
    }
    return TRUE;
}

/* explicit addresses must name a bus that exists and a slot that bus has (libvirt's
 * virDomainPCIAddressValidate()) */
static gboolean
check_explicit(const Pci *p, GError **error)
{
    GPtrArray *devs = p->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const VbDeviceAddress *a = &dev->addr;
        const Bus *b;

        if (a->type != VB_ADDR_PCI || !a->pci_set || a->domain != 0)
            continue;
        b = &p->bus[a->bus];
        if (!b->present) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <%s>: PCI address %04x:%02x:%02x.%x is on bus %u, but there "
                        "is no <controller type='pci' index='%u'>", dev->line,
                        vb_device_def_describe(dev), a->domain, a->bus, a->slot, a->function,
                        a->bus, a->bus);
            return FALSE;
        }
        if (is_pci_ctl(dev) && dev->index == a->bus) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <controller>: PCI controller %u cannot sit on its own bus",
                        dev->line, dev->index);
            return FALSE;
        }
        if (a->slot < b->min_slot || a->slot > b->max_slot) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <%s>: PCI address %04x:%02x:%02x.%x: slot %u is not usable on "
                        "bus %u (%s takes slots %u to %u)", dev->line,
                        vb_device_def_describe(dev), a->domain, a->bus, a->slot, a->function,
                        a->slot, a->bus, b->ctl != NULL ? ctl_model(b->ctl)
                                                        : p->q35 ? "pcie-root" : "pci-root",
                        b->min_slot, b->max_slot);
            return FALSE;
        }
    }
    return TRUE;
}

/* every bus index below the highest PCI controller index or the highest bus an explicit
 * address names gets the PCI controller it lacks, of the default model (pcie-root-port on
 * q35, pci-bridge on i440fx), as libvirt's qemuDomainAssignPCIAddresses() fills the gaps of
 * its bus set. Before the first pass, so a gap filled here is placed like any controller,
 * and a second assignment finds no gap (a gap left open was filled by the next define,
 * found by fuzz-domain-xml) */
static void
add_missing_buses(VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    gboolean have[VB_CONTROLLER_INDEX_MAX + 1] = { FALSE };
    guint max_bus = 0;
    gboolean q35 = vb_domain_def_is_q35(def);

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const VbDeviceAddress *a = &dev->addr;

        if (is_pci_ctl(dev) && dev->index <= VB_CONTROLLER_INDEX_MAX) {
            have[dev->index] = TRUE;
            max_bus = MAX(max_bus, dev->index);
        }
        if (a->type == VB_ADDR_PCI && a->pci_set && a->domain == 0 &&
            a->bus <= VB_CONTROLLER_INDEX_MAX && a->bus > max_bus)
            max_bus = a->bus;
    }
    for (guint index = 1; index <= max_bus; index++) {
        VbDeviceDef *ctl;

        if (have[index])
            continue;
        ctl = vb_device_def_new(VB_DEV_CONTROLLER);
        ctl->rank = vb_rank_lookup(vb_device_ranks, "controller");
        ctl->type = g_strdup("pci");
        ctl->index = index;
        ctl->model = g_strdup(q35 ? "pcie-root-port" : "pci-bridge");
        g_ptr_array_add(devs, ctl);
    }
}

/**
 * vb_domain_def_assign_pci:
 * @def: a definition being defined
 * @error: error (NotSupported when no slot is left)
 *
 * Gives every PCI device without an address one, adding the PCI controllers libvirt adds
 * (see the top of this file). Idempotent.
 */
gboolean
vb_domain_def_assign_pci(VbDomainDef *def, GError **error)
{
    GPtrArray *devs = def->priv->devices;
    guint max_before = next_pci_index(def);
    Pci *p = g_new0(Pci, 1);
    gboolean ok;
    int lowest;

    add_missing_buses(def);
    pci_init(p, def, TRUE);
    if (!check_pci_models(p, error) || !check_explicit(p, error)) {
        g_free(p);
        return FALSE;
    }
    if (!p->q35 && !buses_full(p)) {
        /* libvirt keeps a slot for a future pci-bridge: reserved in the first pass only */
        guint b, s, f;

        take(p, CONN_PCI, &b, &s, &f, NULL);
    }
    ok = place_all(p, error);
    if (ok && p->q35 && p->added && max_before <= 1) {
        guint b, s, f;

        ok = take(p, CONN_PCIE, &b, &s, &f, error) || (error != NULL && *error == NULL);
    }
    vb_sort_by_rank(devs, dev_rank);
    if (ok) {
        pci_init(p, def, FALSE);
        ok = place_all(p, error);
    }
    g_free(p);
    if (!ok)
        return FALSE;
    set_multifunction(def);
    lowest = lowest_bus_nr(def);
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (is_pci_ctl(dev))
            fill_pci_controller(dev, &lowest);
    }
    return TRUE;
}
