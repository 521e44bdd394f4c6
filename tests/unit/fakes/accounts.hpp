#pragma once
// A fake of the system's user and group database (service::Accounts): users and groups as data,
// so that identify() and `ltb user` are tested without real Unix users.

#include "service/users.hpp"

#include <map>
#include <string>
#include <vector>

namespace ltb::fakes {

class FakeAccounts : public service::Accounts {
public:
  /// Adds a user with its primary group (made when missing) and further groups.
  void add_user(const std::string &name, uid_t uid, const std::string &primary,
                const std::vector<std::string> &groups = {}) {
    add_group(primary);
    m_users[name] = {name, uid, m_groups.at(primary).gid};
    std::vector<std::string> all{primary};
    for (const auto &group : groups) {
      add_group(group);
      all.push_back(group);
    }
    m_memberships[name] = all;
  }

  void add_group(const std::string &name) {
    if (!m_groups.count(name)) {
      m_groups[name] = {name, static_cast<gid_t>(2000 + m_groups.size())};
    }
  }

  std::optional<User> user_by_uid(uid_t uid) override {
    for (const auto &[name, user] : m_users) {
      if (user.uid == uid) {
        return user;
      }
    }
    return std::nullopt;
  }
  std::optional<User> user_by_name(const std::string &name) override {
    auto it = m_users.find(name);
    return it == m_users.end() ? std::nullopt : std::optional<User>(it->second);
  }
  std::optional<Group> group_by_name(const std::string &name) override {
    auto it = m_groups.find(name);
    return it == m_groups.end() ? std::nullopt : std::optional<Group>(it->second);
  }
  std::vector<std::string> groups_of(const User &user) override {
    auto it = m_memberships.find(user.name);
    return it == m_memberships.end() ? std::vector<std::string>{} : it->second;
  }

private:
  std::map<std::string, User> m_users;
  std::map<std::string, Group> m_groups;
  std::map<std::string, std::vector<std::string>> m_memberships;
};

} // namespace ltb::fakes
