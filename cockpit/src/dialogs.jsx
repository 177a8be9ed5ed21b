// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// The shape of the page's dialogs: a form, a button that makes one call (or a few) to the
// service, the service's error shown in the dialog when it fails (and the dialog kept
// open), closed when it succeeds.
import React, { useState } from "react";
import { Alert, Button, Form, Modal, ModalVariant } from "@patternfly/react-core";

import { errorMessage } from "./virtbus.js";

const _ = cockpit.gettext;

/**
 * CallDialog:
 * @id: the modal's id; its button @confirmId (default @id-confirm), its error @errorId
 *   (default @id-error)
 * @onConfirm: returns a promise of the call(s); the dialog closes when it resolves
 * @disabled: the button is disabled (the form is not complete)
 * @failed: the title of the error
 */
export function CallDialog({
    id, title, confirm, onConfirm, onClose, disabled, failed, children,
    variant = ModalVariant.small, confirmVariant = "primary", confirmId, errorId,
}) {
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState(null);
    const run = () => {
        if (busy || disabled)
            return;
        setBusy(true);
        setError(null);
        Promise.resolve()
                .then(onConfirm)
                .then(onClose)
                .catch(err => { setError(err); setBusy(false) });
    };
    return (
        <Modal variant={variant} isOpen onClose={onClose} id={id} title={title}
               actions={[
                   <Button key="confirm" variant={confirmVariant} id={confirmId || id + "-confirm"}
                           isLoading={busy} isDisabled={busy || disabled} onClick={run}>
                       {confirm}
                   </Button>,
                   <Button key="cancel" variant="link" onClick={onClose}>{_("Cancel")}</Button>,
               ]}>
            {error &&
                <Alert variant="danger" isInline id={errorId || id + "-error"} data-error-name={error.name || ""}
                       title={failed}>
                    {errorMessage(error)}
                </Alert>}
            <Form onSubmit={e => { e.preventDefault(); run() }}>
                {children}
            </Form>
        </Modal>
    );
}
