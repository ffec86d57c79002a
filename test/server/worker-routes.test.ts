import { guardLeaks } from "../support/leaks.js";
import { workerFlowSuite } from "./worker-flow-suite.js";

guardLeaks();

workerFlowSuite("sqlite");
