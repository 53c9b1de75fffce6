// Who is signed in (GET /api/v1/me) and what that role may do. The buttons a role may not
// use are not drawn; the server refuses them anyway.
import { api } from "./api.js";

export const session = {
  me: null,

  async load() {
    try {
      this.me = await api("me", { quiet401: true });
    } catch {
      this.me = null;
    }
    return this.me;
  },

  /** May the user do this action? The API's list of permitted actions decides. */
  can(action) {
    return !!this.me && this.me.actions.includes(action);
  },
};
