// Shapes of ltb's JSON outputs (`--format json`) and of the daemon's routes.

export interface LabSummary {
  name: string;
  owner: string;
  status: string;
  file: string;
  source: string;
  mgmt_subnet: string;
  containers: number;
  containers_running: number;
  bridges: number;
  reservation: unknown;
}
export interface LabList {
  labs: LabSummary[];
  hidden: number;
  now: string;
}

export interface StatusNode {
  name: string;
  kind: string;
  image: string;
  mgmt_ipv4: string;
  state: string;
  runtime_id: string;
}
export interface LabStatus {
  lab: string;
  status: string;
  file: string;
  source: string;
  mgmt_network: string;
  mgmt_subnet: string;
  drift: number;
  nodes: StatusNode[];
  reservation: unknown;
  now: string;
}

export interface GraphNode {
  name: string;
  kind: string;
  image: string;
  mgmt_ipv4: string;
  state: string | null;
}
export interface GraphImpairment {
  direction: string;
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  corrupt?: string;
  duplicate?: string;
  reorder?: string;
}
export interface GraphLink {
  name: string;
  type: string;
  state: string | null;
  endpoints: { node: string; interface: string }[];
  impairments: GraphImpairment[];
}
export interface Graph {
  lab: string;
  live: boolean;
  source: string;
  nodes: GraphNode[];
  links: GraphLink[];
}

export interface InspectNode {
  name: string;
  kind: string;
  image: string;
  mgmt_ipv4: string;
  status: string;
  runtime_name: string;
  interfaces: { name: string; link: string; address?: string; peer?: string }[];
  ssh?: {
    command: string;
    host: string;
    port: number;
    user: string;
    password: boolean;
    identity_files: string[];
  };
  device?: { running_version?: string; image?: { version?: string } };
  vm?: Record<string, unknown>;
}
export interface Inspect {
  name: string;
  file: string;
  confined: boolean;
  access: Record<string, string>;
  captures: { target?: string; pid?: number; [k: string]: unknown }[];
  nodes: InspectNode[];
}

export interface LinkEnd {
  node: string;
  interface: string;
  impairments: string;
  source: string;
}
export interface LinkRow {
  lab: string;
  name: string;
  state: string;
  via: string;
  a: LinkEnd;
  b: LinkEnd;
}

export interface Template {
  name: string;
  owner: string;
  shared: boolean;
  latest: number;
  versions: number;
  description: string;
  created: string;
  created_by: string;
}
export interface TemplateVersion {
  version: number;
  digest: string;
  description: string;
  created: string;
  created_by: string;
}

export interface Reservation {
  id: number;
  lab: string;
  owner: string;
  state: string;
  start: string;
  end: string;
  source: string;
  reason: string;
  attempts: number;
  demand: { cpus: number; memory_bytes: number; disk_bytes: number };
  created: string;
  updated: string;
}

export interface ConfigList {
  capacity: { cpus: number; memory_bytes: number; disk_bytes: number };
  measured: { cpus: number; memory_bytes: number; disk_bytes: number };
  settings: { name: string; value: string; origin: string; default: string; description: string }[];
}

export interface UserRow {
  id: number;
  name: string;
  kind: "user" | "group";
  role: string;
  quotas: Record<string, number>;
  created_at: number;
}
export interface UserList {
  users: UserRow[];
  default_quotas: Record<string, number>;
}
export interface UserShow {
  name: string;
  uid: number;
  role: string;
  role_from: string;
  groups: string[];
  labs: string[];
  quotas: { name: string; limit: number | null; usage: number | null; source: string }[];
}

export interface Snapshot {
  name: string;
  lab: string;
  [k: string]: unknown;
}

export interface LtbEvent {
  time: string;
  time_ns: number;
  lab: string;
  type: string;
  action: string;
  object: string;
  attributes: Record<string, string>;
}

export interface CpuSeconds {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}
export interface TopNode {
  lab: string;
  node: string;
  kind: string;
  owner: string;
  runtime: string;
  state: string;
  cpu_seconds_total: number;
  memory_working_set_bytes: number;
  disk_bytes: number;
  interfaces: { interface: string; receive_bytes_total: number; transmit_bytes_total: number }[];
}
export interface Top {
  time: number;
  host: {
    cpus: number;
    cpu_seconds_total: CpuSeconds;
    memory_total_bytes: number;
    memory_available_bytes: number;
    disks: { path: string; size_bytes: number; available_bytes: number }[];
  };
  nodes: TopNode[];
  labs: { lab: string; owner: string; nodes: number; reserved_cpus: number; reserved_memory_bytes: number }[];
}
