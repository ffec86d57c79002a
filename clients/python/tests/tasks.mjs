// Tasks the Python tests add to `outlast serve --tasks` (demo.count comes with serve).
// py.approve waits for the signal "approved" ({by: string}) and returns its payload.
import { z } from "zod";

export default function register(outlast) {
  outlast.define("py.approve", {
    signals: { approved: z.object({ by: z.string() }) },
    run: (_input, ctx) => ctx.waitForSignal("approved"),
  });
}
