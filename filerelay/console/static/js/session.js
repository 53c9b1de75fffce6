// Who is signed in (GET /api/v1/me) and what that role may do. The buttons a role may not
// use are not drawn; the server refuses them anyway.
import { api } from "./api.js";

const RANK = { viewer: 1, operator: 2, admin: 3 };

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

  hasRole(role) {
    return !!this.me && (RANK[this.me.role] || 0) >= (RANK[role] || 99);
  },

  /** May the user do this action? The API's list of permitted actions decides. */
  can(action) {
    const allowed = this.me && (this.me.actions || this.me.permitted_actions || this.me.permissions);
    if (Array.isArray(allowed)) return allowed.includes(action);
    return false;
  },
};
