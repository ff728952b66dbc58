#!/bin/sh
# Print the libvirt XML of a VM running the test guest:
#   domain-xml.sh NAME DIR NDISKS [CMDLINE [agent]]
# Its disks are DIR/vda.qcow2, DIR/vdb.qcow2... (a guest's discards reach
# them); its console goes to
# DIR/console.log.  With "agent", it has the QEMU guest agent's channel,
# and the guest runs the agent.  Builds the guest first when it is not cached.
set -eu

name=$1 dir=$2 ndisks=$3 cmdline=${4:-} agent=${5:-}
guest=$(sh "$(dirname "$0")/build.sh")

disks=""
i=0
for t in vda vdb vdc vdd; do
    [ $i -lt "$ndisks" ] || break
    disks="$disks
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='$dir/$t.qcow2'/>
      <target dev='$t' bus='virtio'/>
    </disk>"
    i=$((i + 1))
done

# qboot, where QEMU ships it, boots the kernel in about half the time
# SeaBIOS takes under TCG (measured: 4.4 s against 5.6-6.5 s from
# 'virsh start' to the first count); SeaBIOS otherwise.
loader=""
if [ -r /usr/share/qemu/qboot.rom ]; then
    loader="
    <loader readonly='yes' type='rom'>/usr/share/qemu/qboot.rom</loader>"
fi

channel=""
if [ "$agent" = agent ]; then
    channel="
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>"
fi

cat <<XML
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>$loader
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 $cmdline</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>$disks
    <serial type='file'>
      <source path='$dir/console.log' append='on'/>
      <target port='0'/>
    </serial>$channel
    <memballoon model='none'/>
  </devices>
</domain>
XML
