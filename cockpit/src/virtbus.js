// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// The page's connection to virtbusd through Cockpit's D-Bus bridge.
//
// Two cockpit.dbus() clients on the system bus: one holds proxies() of the objects
// (domains, jobs, networks, snapshots) from the service's ObjectManager, kept current by
// InterfacesAdded/Removed and PropertiesChanged (no polling); the other makes the calls.
// They are separate because Cockpit 287's bridge mixes up a client that proxies the
// ObjectManager's own path and the objects below it.
//
// When the service is not on the bus, or leaves it (a restart), the clients are closed,
// the objects forgotten, and new clients made every second until the service answers
// again: the list comes back by itself.

import { useSyncExternalStore } from "react";

export const BUS_NAME = "org.virtbus.Virt1";
export const ROOT = "/org/virtbus/Virt1";
export const MANAGER = "org.virtbus.Virt1.Manager";
export const DOMAIN = "org.virtbus.Virt1.Domain";
export const JOB = "org.virtbus.Virt1.Job";
export const NETWORK = "org.virtbus.Virt1.Network";
export const SNAPSHOT = "org.virtbus.Virt1.Snapshot";

const RETRY_MS = 1000;

// libvirt's flag values, as the service takes them (interfaces/*.xml)
export const START_PAUSED = 1;
export const START_AUTODESTROY = 2;
export const START_FORCE_BOOT = 4;
export const SHUTDOWN_ACPI = 1;
export const SHUTDOWN_AGENT = 2;
export const DEFINE_VALIDATE = 1;
export const UNDEFINE_MANAGED_SAVE = 1;
export const UNDEFINE_SNAPSHOTS_METADATA = 2;
export const UNDEFINE_NVRAM = 4;
export const UNDEFINE_KEEP_NVRAM = 8;

// The properties a proxy carries, copied into a plain object (React state must not be the
// live proxy, which Cockpit changes in place).
function snapshotProps(proxy) {
    const out = { path: proxy.path };
    for (const key of Object.keys(proxy.data || {}))
        out[key] = proxy.data[key];
    return out;
}

const JOB_ENDED = ["completed", "failed", "cancelled"];
// the order of a migration's phases (libvirt's names); other phases have no rank
const MIGRATION_PHASE_RANK = {
    begin: 1, prepare: 2, perform3: 3, postcopy: 3, perform3_done: 3, finish: 4, cancel: 4,
    confirm: 5,
};

// whether @phase is an earlier migration phase than @last
function phaseBefore(phase, last) {
    const a = MIGRATION_PHASE_RANK[phase];
    const b = MIGRATION_PHASE_RANK[last];
    return a !== undefined && b !== undefined && a < b;
}

class ObjectSet {
    constructor(store, kind) {
        this.store = store;
        this.kind = kind;
        this.items = new Map();
        this.phases = new Map(); // jobs: every Phase each one was seen in, in order
        this.pending = null;     // the next version of items, while a batch collects
    }

    notePhase(item) {
        if (this.kind !== "job" || !item.Phase)
            return;
        const seen = this.phases.get(item.path) || [];
        const last = seen[seen.length - 1];
        // A new job's first changes can reach the page after a fresher read of its
        // properties (Cockpit's bridge reads a new object, and delivers the
        // PropertiesChanged it got meanwhile afterwards): a migration was recorded as
        // "prepare", "begin", "prepare". A job never goes back: nothing after its end, no
        // earlier migration phase after a later one.
        if (last === item.Phase || JOB_ENDED.includes(last) || phaseBefore(item.Phase, last))
            return;
        seen.push(item.Phase);
        this.phases.set(item.path, seen);
    }

    noted(proxy) {
        const item = snapshotProps(proxy);
        this.notePhase(item);
        return item;
    }

    // @fn changes the next version of the set; it is published at the end of this task
    mutate(fn) {
        if (this.pending === null) {
            const batch = new Map(this.items);
            this.pending = batch;
            queueMicrotask(() => {
                if (this.pending !== batch)
                    return; // cleared meanwhile (the service left)
                this.items = batch;
                this.pending = null;
                this.store.changed();
            });
        }
        fn(this.pending);
    }

    attach(proxies) {
        this.items = new Map();
        // copy on write: a new Map for each batch of changes, so that a view can tell by
        // its identity whether this set changed, and an unchanged item keeps its identity
        // (React skips the rows of the domains that did not change). The changes of one
        // message from the bridge (a restarted service adding 10,000 objects) make one copy.
        proxies.addEventListener("added", (ev, proxy) => this.mutate(m => m.set(proxy.path, this.noted(proxy))));
        proxies.addEventListener("changed", (ev, proxy) => this.mutate(m => m.set(proxy.path, this.noted(proxy))));
        proxies.addEventListener("removed", (ev, proxy) => this.mutate(m => m.delete(proxy.path)));
        for (const path of Object.keys(proxies)) {
            const item = snapshotProps(proxies[path]);
            this.items.set(path, item);
            this.notePhase(item);
        }
    }

    clear() {
        this.items = new Map();
        this.pending = null;
    }

    get(path) {
        return this.items.get(path);
    }

    list() {
        return Array.from(this.items.values());
    }
}

// The state the page shows, and the calls it makes. Subscribers are told of every change
// (React's useSyncExternalStore reads version()).
export class Store {
    constructor() {
        this.listeners = new Set();
        this.ver = 0;
        this.status = "connecting"; // "connecting" | "ready" | "absent"
        this.statusMessage = "";
        this.domains = new ObjectSet(this, "domain");
        this.jobs = new ObjectSet(this, "job");
        this.networks = new ObjectSet(this, "network");
        this.snapshots = new ObjectSet(this, "snapshot");
        this.manager = {};
        this.objects = null;
        this.calls = null;
        this.retry = null;
        this.generation = 0;
    }

    // the status line's identity: a view of the connection subscribes to this only
    statusKey = () => this.status + "\n" + this.statusMessage;

    subscribe = (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
    };

    version = () => this.ver;

    changed() {
        this.ver++;
        for (const fn of this.listeners)
            fn();
    }

    setStatus(status, message) {
        if (this.status === status && this.statusMessage === (message || ""))
            return;
        this.status = status;
        this.statusMessage = message || "";
        this.changed();
    }

    start() {
        this.connect();
    }

    connect() {
        const gen = ++this.generation;
        const options = { bus: "system", superuser: "try" };
        const objects = cockpit.dbus(BUS_NAME, options);
        const calls = cockpit.dbus(BUS_NAME, options);
        const lost = (message) => {
            if (gen !== this.generation)
                return;
            this.disconnect(message);
        };

        this.objects = objects;
        this.calls = calls;
        objects.addEventListener("close", (ev, options) => lost(closeMessage(options)));
        calls.addEventListener("close", (ev, options) => lost(closeMessage(options)));
        objects.addEventListener("owner", (ev, owner) => {
            if (owner === null)
                lost(cockpit.gettext("The virtbus service left the bus."));
        });

        const sets = [[this.domains, DOMAIN], [this.jobs, JOB], [this.networks, NETWORK],
            [this.snapshots, SNAPSHOT]];
        const waits = sets.map(([set, iface]) => {
            const proxies = objects.proxies(iface, ROOT);

            return proxies.wait().then(() => {
                if (gen === this.generation)
                    set.attach(proxies);
            });
        });
        const manager = calls.call(ROOT, "org.freedesktop.DBus.Properties", "GetAll", [MANAGER],
                                   { type: "s" })
                .then(([props]) => {
                    if (gen !== this.generation)
                        return;
                    this.manager = {};
                    for (const key of Object.keys(props))
                        this.manager[key] = props[key].v;
                });
        Promise.all([manager, ...waits])
                .then(() => {
                    if (gen === this.generation)
                        this.setStatus("ready");
                })
                .catch(err => lost(errorMessage(err)));
    }

    disconnect(message) {
        this.generation++;
        for (const client of [this.objects, this.calls]) {
            if (client)
                client.close();
        }
        this.objects = this.calls = null;
        for (const set of [this.domains, this.jobs, this.networks, this.snapshots])
            set.clear();
        this.setStatus("absent", message);
        this.changed();
        if (this.retry === null) {
            this.retry = window.setTimeout(() => {
                this.retry = null;
                this.connect();
            }, RETRY_MS);
        }
    }

    // A method call; resolves to the reply's values, rejects with the service's error.
    call(path, iface, method, args, type) {
        if (!this.calls)
            return Promise.reject(new Error(cockpit.gettext("The virtbus service is not running.")));
        return this.calls.call(path, iface, method, args, type !== undefined ? { type } : undefined);
    }

    domainCall(path, method, args, type) {
        return this.call(path, DOMAIN, method, args, type);
    }

    managerCall(method, args, type) {
        return this.call(ROOT, MANAGER, method, args, type);
    }

    setDomainProperty(path, name, signature, value) {
        return this.call(path, "org.freedesktop.DBus.Properties", "Set",
                         [DOMAIN, name, cockpit.variant(signature, value)], "ssv");
    }
}

function closeMessage(options) {
    const problem = options && options.problem;
    if (!problem)
        return cockpit.gettext("The connection to the virtbus service was closed.");
    if (problem === "not-found")
        return cockpit.gettext("The virtbus service is not running.");
    return cockpit.format(cockpit.gettext("The connection to the virtbus service failed: $0"),
                          cockpit.message(problem));
}

// The error text the page shows: the service's D-Bus error name and its message, as the
// service names them; a polkit refusal says which action was refused.
export function errorMessage(err) {
    if (!err)
        return "";
    if (typeof err === "string")
        return err;
    const name = err.name && err.name !== "Error" ? err.name : "";
    const message = err.message || (err.problem ? cockpit.message(err.problem) : String(err));
    return name ? `${name}: ${message}` : message;
}

export function errorName(err) {
    return err && err.name ? err.name : "";
}

export function shortError(err) {
    const name = errorName(err);
    return name.startsWith("org.virtbus.Virt1.Error.") ? name.slice(24) : name;
}

// Hooks: a view re-renders when what it shows changed, not on every change of the store.
export function useObjects(set) {
    return useSyncExternalStore(set.store.subscribe, () => set.items);
}

export function useStatus(store) {
    return useSyncExternalStore(store.subscribe, store.statusKey);
}
