/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "domain-obj.h"

G_BEGIN_DECLS

/* The live XML's <backingStore> chains of the disks (issue 15; domain-chain.c). */
void vb_domain_chains_from_prep_locked(VbDomainObj *dom, GHashTable *disks);
void vb_domain_chains_update(VbDomainObj *dom, JsonNode *query_block);
void vb_domain_chains_apply_locked(VbDomainObj *dom, VbDomainDef *live);

G_END_DECLS
