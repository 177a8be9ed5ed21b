// SPDX-License-Identifier: LGPL-2.1-or-later
import "@patternfly/react-core/dist/styles/base.css";
import "./virtbus.css";

import React from "react";
import { createRoot } from "react-dom/client";

import { App } from "./app.jsx";
import { followTheme } from "./theme.js";
import { Store } from "./virtbus.js";

followTheme();
const store = new Store();
window.virtbusStore = store; // for the browser tests and a curious developer's console
store.start();
createRoot(document.getElementById("app")).render(<App store={store} />);
