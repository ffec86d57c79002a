import { guardLeaks } from "../support/leaks.js";
import { workerRefusalsSuite } from "./worker-refusals-suite.js";

guardLeaks();

workerRefusalsSuite("sqlite");
