import { StrictMode, Suspense, lazy, useEffect, useState } from "react";
import { MeContext, href } from "./app";
import { createRoot } from "react-dom/client";
import { logout, setUnauthorizedHandler, whoami, type Me } from "./api";
import { Login } from "./pages/Login";
import { Labs } from "./pages/Labs";
import { LabPage } from "./pages/Lab";
import { Templates } from "./pages/Templates";
import { Reservations } from "./pages/Reservations";
import { Usage } from "./pages/Usage";
import { Users } from "./pages/Users";
import "./style.css";

// xterm.js is the biggest dependency: only the terminal page loads it.
const TerminalPage = lazy(() => import("./pages/Terminal"));

// Hash routing: #/labs, #/labs/NAME, #/templates, #/reservations, #/usage, #/users,
// #/terminal/LAB/NODE, #/watch/SHARE. Works with the daemon's index.html fallback and from a file.
function useRoute(): string[] {
  const parse = () =>
    (window.location.hash.replace(/^#\/?/, "") || "labs")
      .split("?")[0]
      .split("/")
      .map((p) => decodeURIComponent(p));
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const f = () => setRoute(parse());
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return route;
}

function Nav({ me, route, onLogout }: { me: Me; route: string[]; onLogout: () => void }) {
  const items: [string, string][] = [
    ["labs", "Labs"],
    ["templates", "Templates"],
    ["reservations", "Reservations"],
    ["usage", "Usage"],
  ];
  if (me.admin) items.push(["users", "Users"]);
  return (
    <nav className="top">
      <span className="brand">ltb</span>
      {items.map(([k, label]) => (
        <a key={k} href={href(k)} className={route[0] === k ? "active" : ""} data-testid={`nav-${k}`}>
          {label}
        </a>
      ))}
      <span className="spacer" />
      <span className="who" data-testid="whoami">
        {me.user}
        {me.admin ? " (admin)" : ""}
      </span>
      <button data-testid="logout" onClick={onLogout}>
        Log out
      </button>
    </nav>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    setUnauthorizedHandler(() => setMe(null));
    whoami().then(setMe, () => setMe(null));
  }, []);
  if (me === undefined) return <div className="loading">Loading…</div>;
  if (me === null) return <Login onLogin={setMe} />;
  const doLogout = async () => {
    await logout().catch(() => {});
    sessionStorage.clear();
    setMe(null);
  };
  let page;
  switch (route[0]) {
    case "labs":
      page = route[1] ? <LabPage lab={route[1]} /> : <Labs />;
      break;
    case "templates":
      page = <Templates />;
      break;
    case "reservations":
      page = <Reservations />;
      break;
    case "usage":
      page = <Usage />;
      break;
    case "users":
      page = <Users />;
      break;
    case "terminal":
      page = <TerminalPage lab={route[1]} node={route[2]} />;
      break;
    case "watch":
      page = <TerminalPage watch={route[1]} />;
      break;
    default:
      page = <div className="card">No page here. <a href={href("labs")}>Labs</a></div>;
  }
  const bare = route[0] === "terminal" || route[0] === "watch";
  return (
    <MeContext.Provider value={me}>
      {!bare && <Nav me={me} route={route} onLogout={doLogout} />}
      <main className={bare ? "bare" : ""}>
        <Suspense fallback={<div className="loading">Loading…</div>}>{page}</Suspense>
      </main>
    </MeContext.Provider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
