// SPDX-License-Identifier: LGPL-2.1-or-later
//
// PatternFly's Td and Th with a ref kept across renders. Without one they make a new ref
// at every render, and their effect (which runs when the ref changes) reads the cell's
// offsetWidth to decide on a tooltip: a forced layout of the page after every render of
// a row, before the change is on screen. With a stable ref it runs once, when the cell
// appears.
import React, { useRef } from "react";
import { Td, Th } from "@patternfly/react-table";

export function Cell(props) {
    const ref = useRef(null);
    return <Td ref={ref} {...props} />;
}

export function HeadCell(props) {
    const ref = useRef(null);
    return <Th ref={ref} {...props} />;
}
